import { ErrorCode, GureumError, type ValidRequestOf } from '@gureum/contracts';
import { queryRows, SCHEMA } from '../database/sql';
import type { RegistryContext } from '../common/registry-context';

/** Makes a repository pullable by every tenant, or private again. */
export class SetRepositoryVisibility {
  constructor(private readonly context: RegistryContext) {}

  async execute(command: ValidRequestOf<'registry.cmd.repository.visibility.v1'>): Promise<{ name: string; public: boolean }> {
    const rows = await queryRows<{ name: string; public: boolean }>(
      this.context.dataSource.manager,
      `UPDATE "${SCHEMA}"."repositories" SET public = $2 WHERE name = $1 RETURNING name, public`,
      [command.name, command.public],
    );
    const row = rows[0];
    if (!row) throw new GureumError(ErrorCode.NotFound, `repository ${command.name} does not exist`, { name: command.name });
    this.context.logger.info({ repository: row.name, public: row.public }, 'repository visibility changed');
    return row;
  }
}
