import type { ImageList, ListImagesRequest, ValidRequestOf } from '@gureum/contracts';
import { queryRows, SCHEMA } from '../database/sql';
import type { RegistryContext } from '../common/registry-context';

/**
 * A tenant's repositories (with tags and attributed bytes) and its storage used vs quota, for
 * `GET /v1/images` and `GET /v1/admin/images`. The tenant is the caller's (an operator caller
 * names it instead): its namespaces are those whose recorded tenant
 * id (learnt from its own pushes) is the caller's tenant id — nothing else is visible.
 * Bytes are attributed as in the storage samples (each blob to the first repository of the
 * namespace that linked it), so they add up to the used bytes.
 */
export class ListImages {
  constructor(private readonly context: RegistryContext) {}

  async execute(command: ValidRequestOf<'registry.cmd.images.list.v1'>): Promise<ImageList> {
    const manager = this.context.dataSource.manager;
    const namespaces = await queryRows<{ namespace: string; used_bytes: string; quota_bytes: string | null }>(
      manager,
      `SELECT namespace, used_bytes, quota_bytes FROM "${SCHEMA}"."tenant_storage" WHERE tenant_id = $1 ORDER BY namespace`,
      [tenantOf(command)],
    );
    const names = namespaces.map((row) => row.namespace);
    const usedBytes = namespaces.reduce((sum, row) => sum + Number(row.used_bytes), 0);
    const quotaBytes = namespaces.reduce((sum, row) => sum + (row.quota_bytes === null ? this.context.settings.defaultQuotaBytes : Number(row.quota_bytes)), 0);
    if (names.length === 0) return { items: [], storage: { usedBytes: 0, quotaBytes: this.context.settings.defaultQuotaBytes } };

    const repositories = await queryRows<{ id: string; name: string; public: boolean; created_at: Date; bytes: string }>(
      manager,
      `WITH attributed AS (
         SELECT DISTINCT ON (rb.namespace, rb.digest) rb.repository_id, rb.digest
           FROM "${SCHEMA}"."repository_blobs" rb
          WHERE rb.namespace = ANY($1::text[])
          ORDER BY rb.namespace, rb.digest, rb.created_at, rb.repository_id
       )
       SELECT r.id, r.name, r.public, r.created_at, COALESCE(SUM(b.size), 0)::text AS bytes
         FROM "${SCHEMA}"."repositories" r
         LEFT JOIN attributed a ON a.repository_id = r.id
         LEFT JOIN "${SCHEMA}"."blobs" b ON b.digest = a.digest
        WHERE r.namespace = ANY($1::text[])
        GROUP BY r.id, r.name, r.public, r.created_at
        ORDER BY r.name`,
      [names],
    );
    const tags = await queryRows<{ repository_id: string; name: string; manifest_digest: string; artifact_type: string | null; updated_at: Date }>(
      manager,
      `SELECT t.repository_id, t.name, t.manifest_digest, m.artifact_type, t.updated_at
         FROM "${SCHEMA}"."tags" t
         JOIN "${SCHEMA}"."manifests" m ON m.repository_id = t.repository_id AND m.digest = t.manifest_digest
         JOIN "${SCHEMA}"."repositories" r ON r.id = t.repository_id
        WHERE r.namespace = ANY($1::text[])
        ORDER BY t.name`,
      [names],
    );
    return {
      items: repositories.map((repository) => ({
        name: repository.name,
        public: repository.public,
        bytes: Number(repository.bytes),
        createdAt: new Date(repository.created_at).toISOString(),
        tags: tags
          .filter((tag) => tag.repository_id === repository.id)
          .map((tag) => ({ name: tag.name, digest: tag.manifest_digest, artifactType: tag.artifact_type, updatedAt: new Date(tag.updated_at).toISOString() })),
      })),
      storage: { usedBytes, quotaBytes },
    };
  }
}

/** A tenant caller lists its own tenant; an operator lists the tenant it names. */
function tenantOf(command: ListImagesRequest): string {
  return 'tenantId' in command ? command.tenantId : command.caller.tenantId;
}
