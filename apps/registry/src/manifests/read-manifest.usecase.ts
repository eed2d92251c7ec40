import { queryRows, SCHEMA } from '../database/sql';
import { looksLikeDigest, tryParseDigest } from '../distribution/digest';
import { isValidTag, type RepositoryName } from '../distribution/names';
import { OciError } from '../distribution/oci-error';
import { findRepository } from '../repositories/repository.store';
import type { RegistryContext } from '../common/registry-context';

export interface StoredManifest {
  digest: string;
  mediaType: string;
  size: number;
}

/** GET/HEAD of a manifest by tag or digest. */
export class ReadManifest {
  constructor(private readonly context: RegistryContext) {}

  async execute(command: { name: RepositoryName; reference: string }): Promise<StoredManifest & { read(): Promise<Buffer> }> {
    const manager = this.context.dataSource.manager;
    const repository = await findRepository(manager, command.name.full);
    if (!repository) throw new OciError('NAME_UNKNOWN', 'repository name not known to registry', { name: command.name.full });
    const byDigest = looksLikeDigest(command.reference);
    // A reference that is neither a tag nor a digest this registry can hold names no manifest:
    // the spec (and its conformance suite, `.INVALID_MANIFEST_NAME`) answers 404 MANIFEST_UNKNOWN.
    if (byDigest ? tryParseDigest(command.reference) === null : !isValidTag(command.reference)) {
      throw new OciError('MANIFEST_UNKNOWN', 'manifest unknown to registry', { reference: command.reference });
    }
    const [row] = byDigest
      ? await queryRows<{ digest: string; media_type: string; size: string }>(
          manager,
          `SELECT digest, media_type, size FROM "${SCHEMA}"."manifests" WHERE repository_id = $1 AND digest = $2`,
          [repository.id, command.reference],
        )
      : await queryRows<{ digest: string; media_type: string; size: string }>(
          manager,
          `SELECT m.digest, m.media_type, m.size FROM "${SCHEMA}"."tags" t
             JOIN "${SCHEMA}"."manifests" m ON m.repository_id = t.repository_id AND m.digest = t.manifest_digest
            WHERE t.repository_id = $1 AND t.name = $2`,
          [repository.id, command.reference],
        );
    if (!row) throw new OciError('MANIFEST_UNKNOWN', 'manifest unknown to registry', { reference: command.reference });
    const store = this.context.store;
    return { digest: row.digest, mediaType: row.media_type, size: Number(row.size), read: () => store.readAll(row.digest) };
  }
}
