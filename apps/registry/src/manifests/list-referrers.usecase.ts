import { queryRows, SCHEMA } from '../database/sql';
import { parseDigest } from '../distribution/digest';
import { MediaTypes } from '../distribution/manifest';
import { type RepositoryName } from '../distribution/names';
import { findRepository } from '../repositories/repository.store';
import type { RegistryContext } from '../common/registry-context';

export interface ReferrerDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** GET referrers/<digest>: manifests whose `subject` is the digest, as an OCI index. */
export class ListReferrers {
  constructor(private readonly context: RegistryContext) {}

  async execute(command: { name: RepositoryName; digest: string; artifactType?: string }): Promise<{ mediaType: string; schemaVersion: 2; manifests: ReferrerDescriptor[] }> {
    const digest = parseDigest(command.digest).value;
    const manager = this.context.dataSource.manager;
    const repository = await findRepository(manager, command.name.full);
    const rows = repository
      ? await queryRows<{ digest: string; media_type: string; size: string; artifact_type: string | null; annotations: Record<string, string> | null }>(
          manager,
          `SELECT digest, media_type, size, artifact_type, annotations FROM "${SCHEMA}"."manifests"
            WHERE repository_id = $1 AND subject_digest = $2 AND ($3::text IS NULL OR artifact_type = $3::text) ORDER BY created_at, digest`,
          [repository.id, digest, command.artifactType ?? null],
        )
      : [];
    return {
      schemaVersion: 2,
      mediaType: MediaTypes.ociIndex,
      manifests: rows.map((row) => ({
        mediaType: row.media_type,
        digest: row.digest,
        size: Number(row.size),
        ...(row.artifact_type !== null ? { artifactType: row.artifact_type } : {}),
        ...(row.annotations !== null ? { annotations: row.annotations } : {}),
      })),
    };
  }
}
