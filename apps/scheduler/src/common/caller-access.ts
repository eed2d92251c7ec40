import { ErrorCode, GureumError, type Caller, type OperatorCaller } from '@gureum/contracts';
import type { EntityManager } from 'typeorm';
import { queryRows, SCHEMA } from '../database/sql';

/**
 * The api authorises requests, but the scheduler owns the workloads: a viewer's key that
 * reaches a mutating command through a bug there must still be refused here.
 */
export function assertMayModify(caller: Caller): void {
  if (caller.role === 'viewer') {
    throw new GureumError(ErrorCode.Forbidden, 'the viewer role may read workloads but not change them', { role: caller.role });
  }
}

/** Suspension is decided by an operator at the api; the scheduler still refuses a suspended tenant's creates and starts itself. */
export async function assertTenantNotSuspended(manager: EntityManager, tenantId: string): Promise<void> {
  const rows = await queryRows<{ tenant_id: string }>(manager, `SELECT "tenant_id" FROM "${SCHEMA}"."suspended_tenants" WHERE "tenant_id" = $1`, [tenantId]);
  if (rows.length > 0) throw new GureumError(ErrorCode.Forbidden, 'the tenant is suspended', { tenantId });
}

/** Whole-tenant commands: the schema already requires role operator; checked again where it is used. */
export function assertOperator(caller: OperatorCaller): void {
  if (caller.role !== 'operator') throw new GureumError(ErrorCode.Forbidden, 'only platform operators may do this');
}
