import { Commands, ErrorCode, GureumError } from '@gureum/contracts';
import type { Bus } from '@gureum/messaging';
import type { Logger } from '@gureum/runtime';
import type { DataSource, EntityManager } from 'typeorm';
import { inTransaction, queryRows, SCHEMA } from '../database/sql';
import { OciError } from '../distribution/oci-error';

/** Whether a tenant id still exists at the api (the owner of tenants). */
export type TenantExists = (tenantId: string) => Promise<boolean>;

/** Asks the api with `identity.cmd.tenant.name.v1`: `not_found` means the tenant was deleted. */
export function tenantExistsVia(bus: Bus): TenantExists {
  return async (tenantId) => {
    try {
      await bus.request(Commands.identityTenantName.subject, { tenantId });
      return true;
    } catch (error) {
      if (error instanceof GureumError && error.code === ErrorCode.NotFound) return false;
      if (error instanceof GureumError && (error.code === ErrorCode.Unavailable || error.code === ErrorCode.Timeout)) {
        throw new OciError('UNAUTHORIZED', 'the identity service is unavailable; try again', null, 503, { 'Retry-After': '5' });
      }
      throw error;
    }
  };
}

/**
 * Which tenant (id) owns a namespace. Names are reusable (a tenant deleted, another created
 * with its name), so a namespace belongs to the tenant *id* that first used it, never to
 * whoever holds the name now. The registry has no tenant table: it learns the id from the
 * bearer token of a tenant principal working in its own namespace (the api's credential
 * verification put it there) and keeps it with the namespace's storage row.
 *
 * When a token of another tenant id with the same name arrives, the api is asked whether the
 * recorded tenant still exists. If it was deleted, its namespace is emptied first —
 * repositories, tags, manifests and blob links removed (the blobs are left to GC), open
 * uploads expired, usage and quota override reset — and the new tenant starts empty and
 * correctly counted (issue 20, hole 5). The api's `evt.tenant.deleted.v1` normally did that
 * already at the deletion (`TenantDeletions`); this is the backstop for a lost event. If it still exists, the request is refused: a deleted
 * tenant's token must not take the namespace back. Known owners are cached, so the common
 * case costs a Map lookup.
 */
export class TenantDirectory {
  private readonly known = new Map<string, string>();

  constructor(
    private readonly dataSource: DataSource,
    private readonly tenantExists: TenantExists,
    private readonly logger?: Logger,
  ) {}

  async claim(namespace: string, tenantId: string): Promise<void> {
    if (this.known.get(namespace) === tenantId) return;
    const manager = this.dataSource.manager;
    const [row] = await queryRows<{ tenant_id: string | null }>(manager, `SELECT tenant_id FROM "${SCHEMA}"."tenant_storage" WHERE namespace = $1`, [namespace]);
    const recorded = row?.tenant_id ?? null;
    if (recorded !== null && recorded !== tenantId) {
      // Ask outside the transaction; both answers are re-checked under the row lock below.
      if (await this.tenantExists(recorded)) {
        throw new OciError('DENIED', `namespace ${namespace} belongs to another tenant`, { namespace });
      }
      if (!(await this.tenantExists(tenantId))) throw new OciError('DENIED', `tenant of namespace ${namespace} no longer exists`, { namespace });
    }
    await inTransaction(this.dataSource, async (tx) => {
      await queryRows(tx, `INSERT INTO "${SCHEMA}"."tenant_storage" (namespace) VALUES ($1) ON CONFLICT (namespace) DO NOTHING`, [namespace]);
      const [locked] = await queryRows<{ tenant_id: string | null }>(tx, `SELECT tenant_id FROM "${SCHEMA}"."tenant_storage" WHERE namespace = $1 FOR UPDATE`, [namespace]);
      const owner = locked?.tenant_id ?? null;
      if (owner === tenantId) return;
      if (owner === null) {
        // Only operators pushed here (e.g. the stack's demo image): the tenant adopts it.
        await queryRows(tx, `UPDATE "${SCHEMA}"."tenant_storage" SET tenant_id = $2 WHERE namespace = $1`, [namespace, tenantId]);
        return;
      }
      if (owner !== recorded) throw new OciError('DENIED', `namespace ${namespace} changed owner concurrently; try again`, { namespace });
      // Normally done already when the api's `evt.tenant.deleted.v1` arrived (tenant-deletions.ts);
      // this is the backstop for a deletion whose event never reached the registry.
      const repositories = await emptyNamespace(tx, namespace);
      await queryRows(tx, `UPDATE "${SCHEMA}"."tenant_storage" SET tenant_id = $2 WHERE namespace = $1`, [namespace, tenantId]);
      this.logger?.info({ namespace, deletedTenantId: owner, tenantId, repositories }, 'namespace of a deleted tenant emptied for the new tenant of that name');
    });
    this.known.set(namespace, tenantId);
  }
}

/**
 * Empties the namespace of a deleted tenant, inside the caller's transaction (which holds its
 * `tenant_storage` row locked): repositories removed with their tags, manifests and blob links
 * (ON DELETE CASCADE; the blobs are left to GC), open uploads expired, used bytes and the quota
 * override reset. The recorded tenant id is left to the caller. Returns how many repositories
 * went; running it again on an empty namespace changes nothing.
 */
export async function emptyNamespace(tx: EntityManager, namespace: string): Promise<number> {
  const purged = await queryRows<{ name: string }>(tx, `DELETE FROM "${SCHEMA}"."repositories" WHERE namespace = $1 RETURNING name`, [namespace]);
  await queryRows(tx, `UPDATE "${SCHEMA}"."uploads" SET updated_at = 'epoch' WHERE repository_name LIKE $1 AND updated_at <> 'epoch'`, [`${escapeLike(namespace)}/%`]);
  await queryRows(tx, `UPDATE "${SCHEMA}"."tenant_storage" SET used_bytes = 0, quota_bytes = NULL WHERE namespace = $1`, [namespace]);
  return purged.length;
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}
