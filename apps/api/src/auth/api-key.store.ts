import type { DataSource } from 'typeorm';
import { ApiKey } from './api-key.entity';
import type { ApiKeyRecord, ApiKeyStore } from './api-key-verifier';
import { Tenant } from '../tenants/tenant.entity';

/** The api_keys table as the verifier sees it. */
export class TypeOrmApiKeyStore implements ApiKeyStore {
  constructor(private readonly dataSource: DataSource) {}

  async findByPrefix(prefix: string): Promise<ApiKeyRecord | null> {
    const row = await this.dataSource
      .getRepository(ApiKey)
      .createQueryBuilder('key')
      .leftJoin(Tenant, 'tenant', 'tenant.id = key.tenant_id')
      .select([
        'key.id AS id',
        'key.tenant_id AS tenant_id',
        'tenant.status AS tenant_status',
        'key.role AS role',
        'key.secret_hash AS secret_hash',
        'key.expires_at AS expires_at',
        'key.revoked_at AS revoked_at',
        'key.last_used_at AS last_used_at',
      ])
      .where('key.prefix = :prefix', { prefix })
      .getRawOne<{
        id: string;
        tenant_id: string | null;
        tenant_status: ApiKeyRecord['tenantStatus'];
        role: ApiKeyRecord['role'];
        secret_hash: string;
        expires_at: Date | null;
        revoked_at: Date | null;
        last_used_at: Date | null;
      }>();
    if (!row) return null;
    return {
      id: row.id,
      tenantId: row.tenant_id,
      tenantStatus: row.tenant_status,
      role: row.role,
      secretHash: row.secret_hash,
      expiresAt: row.expires_at,
      revokedAt: row.revoked_at,
      lastUsedAt: row.last_used_at,
    };
  }

  async markUsed(keyId: string, at: Date): Promise<void> {
    // The condition keeps several api replicas from each writing the row on every request.
    await this.dataSource
      .getRepository(ApiKey)
      .createQueryBuilder()
      .update()
      .set({ lastUsedAt: at })
      .where('id = :keyId', { keyId })
      .andWhere("(last_used_at IS NULL OR last_used_at < :at::timestamptz - interval '1 minute')", { at })
      .execute();
  }
}
