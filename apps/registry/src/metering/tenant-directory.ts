import type { DataSource } from 'typeorm';
import { queryRows, SCHEMA } from '../database/sql';

/**
 * Which tenant (id) owns a namespace. The registry has no tenant table: it learns the id from
 * the bearer token of a push into the tenant's own namespace (the api's credential
 * verification put it there) and keeps it with the namespace's storage row. Remembered ids
 * are cached, so only the first push of a process per namespace writes.
 */
export class TenantDirectory {
  private readonly known = new Map<string, string>();

  constructor(private readonly dataSource: DataSource) {}

  async remember(namespace: string, tenantId: string): Promise<void> {
    if (this.known.get(namespace) === tenantId) return;
    await queryRows(
      this.dataSource.manager,
      `INSERT INTO "${SCHEMA}"."tenant_storage" (namespace, tenant_id) VALUES ($1, $2)
       ON CONFLICT (namespace) DO UPDATE SET tenant_id = EXCLUDED.tenant_id WHERE "tenant_storage".tenant_id IS DISTINCT FROM EXCLUDED.tenant_id`,
      [namespace, tenantId],
    );
    this.known.set(namespace, tenantId);
  }
}
