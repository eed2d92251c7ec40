import { parseDigest } from '../distribution/digest';
import type { RepositoryName } from '../distribution/names';
import { OciError } from '../distribution/oci-error';
import { inTransaction, queryRows, SCHEMA } from '../database/sql';
import { unlinkBlob } from '../quota/storage-accounting';
import { findRepository } from '../repositories/repository.store';
import type { RegistryContext } from '../common/registry-context';

/** DELETE of a blob: unlinks it from the repository; the bytes go at the next GC. */
export class DeleteBlob {
  constructor(private readonly context: RegistryContext) {}

  async execute(command: { name: RepositoryName; digest: string }): Promise<void> {
    const digest = parseDigest(command.digest).value;
    const removed = await inTransaction(this.context.dataSource, async (manager) => {
      const repository = await findRepository(manager, command.name.full);
      if (!repository) return false;
      const usedByManifest = await queryRows(
        manager,
        `SELECT 1 FROM "${SCHEMA}"."manifests" WHERE repository_id = $1 AND (digest = $2 OR $2 = ANY(blob_refs)) LIMIT 1`,
        [repository.id, digest],
      );
      if (usedByManifest.length > 0) {
        throw new OciError('DENIED', 'blob is referenced by a manifest in this repository; delete the manifest first', { digest });
      }
      return unlinkBlob(manager, repository, digest, this.context.settings.defaultQuotaBytes);
    });
    if (!removed) throw new OciError('BLOB_UNKNOWN', 'blob unknown to registry', { digest });
    this.context.storageChanged?.(command.name.namespace);
  }
}
