import { queryRows, SCHEMA } from '../database/sql';
import { type RepositoryName } from '../distribution/names';
import { OciError } from '../distribution/oci-error';
import { findRepository } from '../repositories/repository.store';
import type { RegistryContext } from '../common/registry-context';

/** GET tags/list with `n`/`last` paging (lexical order). */
export class ListTags {
  constructor(private readonly context: RegistryContext) {}

  async execute(command: { name: RepositoryName; n?: number; last?: string }): Promise<{ tags: string[]; more: boolean }> {
    const manager = this.context.dataSource.manager;
    const repository = await findRepository(manager, command.name.full);
    if (!repository) throw new OciError('NAME_UNKNOWN', 'repository name not known to registry', { name: command.name.full });
    const limit = command.n === undefined ? 10_000 : command.n;
    if (limit === 0) return { tags: [], more: false };
    const rows = await queryRows<{ name: string }>(
      manager,
      `SELECT name FROM "${SCHEMA}"."tags" WHERE repository_id = $1 AND ($2::text IS NULL OR name COLLATE "C" > $2::text COLLATE "C")
        ORDER BY name COLLATE "C" LIMIT $3`,
      [repository.id, command.last ?? null, limit + 1],
    );
    return { tags: rows.slice(0, limit).map((row) => row.name), more: rows.length > limit };
  }
}
