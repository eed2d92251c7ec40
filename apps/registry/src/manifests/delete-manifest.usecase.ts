import { enqueueEvent } from '@gureum/messaging';
import { inTransaction, queryRows, SCHEMA } from '../database/sql';
import { looksLikeDigest, parseDigest } from '../distribution/digest';
import { type RepositoryName } from '../distribution/names';
import { OciError } from '../distribution/oci-error';
import { findRepository } from '../repositories/repository.store';
import type { RegistryContext } from '../common/registry-context';

/**
 * DELETE of a manifest. By digest: the manifest and every tag pointing at it. By tag: only
 * the tag (spec 1.1), the manifest stays until GC finds it untagged.
 */
export class DeleteManifest {
  constructor(private readonly context: RegistryContext) {}

  async execute(command: { name: RepositoryName; reference: string }): Promise<void> {
    const byDigest = looksLikeDigest(command.reference);
    if (byDigest) parseDigest(command.reference);
    await inTransaction(this.context.dataSource, async (manager) => {
      const repository = await findRepository(manager, command.name.full);
      if (!repository) throw new OciError('NAME_UNKNOWN', 'repository name not known to registry', { name: command.name.full });
      if (!byDigest) {
        const removed = await queryRows(manager, `DELETE FROM "${SCHEMA}"."tags" WHERE repository_id = $1 AND name = $2 RETURNING name`, [repository.id, command.reference]);
        if (removed.length === 0) throw new OciError('MANIFEST_UNKNOWN', 'tag unknown to registry', { tag: command.reference });
        return;
      }
      const removed = await queryRows(manager, `DELETE FROM "${SCHEMA}"."manifests" WHERE repository_id = $1 AND digest = $2 RETURNING digest`, [
        repository.id,
        command.reference,
      ]);
      if (removed.length === 0) throw new OciError('MANIFEST_UNKNOWN', 'manifest unknown to registry', { digest: command.reference });
      await enqueueEvent(manager, 'evt.image.deleted.v1', {
        tenantName: repository.namespace,
        repository: repository.name,
        digest: command.reference,
        reason: 'deleted',
        deletedAt: new Date().toISOString(),
      });
    });
    this.context.relay.kick();
    this.context.storageChanged?.(command.name.namespace);
  }
}
