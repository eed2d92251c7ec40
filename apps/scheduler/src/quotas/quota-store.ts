import type { QuotaAmounts, QuotaOverrides, QuotaView } from '@gureum/contracts';
import type { EntityManager } from 'typeorm';
import { queryRows, SCHEMA } from '../database/sql';
import { effectiveLimits, quotaExceeded, quotaViolation } from './quota';

export interface UsageRow {
  cpu_millis: string;
  memory_mib: string;
  pids: string;
  workloads: number;
  vms: number;
  limit_cpu_millis: string | null;
  limit_memory_mib: string | null;
  limit_pids: string | null;
  limit_workloads: number | null;
  limit_vms: number | null;
}

/**
 * Locks the tenant's usage row (creating it on first use) and returns use and limits. The
 * upsert's DO UPDATE takes the row lock even when the row exists, so every caller in the same
 * tenant serialises here until its transaction ends — which is what keeps concurrent creates,
 * on any replica, from exceeding a quota.
 */
async function lockUsage(manager: EntityManager, tenantId: string, defaults: QuotaAmounts): Promise<QuotaView> {
  const [row] = await queryRows<UsageRow>(
    manager,
    `WITH usage AS (
       INSERT INTO "${SCHEMA}"."quota_usage" ("tenant_id") VALUES ($1)
       ON CONFLICT ("tenant_id") DO UPDATE SET "tenant_id" = EXCLUDED."tenant_id"
       RETURNING *
     )
     ${quotaRowsSelectSql('usage')}`,
    [tenantId],
  );
  return toQuotaView(row!, defaults);
}

/**
 * `lockUsage` for several tenants at once (a batch of creates), as a CTE body: one upsert,
 * rows taken in tenant id order so two batches locking overlapping tenants never deadlock.
 * The rows stay locked until the transaction ends; charge them with `chargeLockedQuotasSql`.
 * `$tenants` is a uuid[] parameter, `after` a condition gating its scan.
 */
export function lockQuotaRowsUpsertSql(tenants: string, after: string): string {
  return `INSERT INTO "${SCHEMA}"."quota_usage" ("tenant_id")
       SELECT DISTINCT t FROM unnest(${tenants}::uuid[]) t WHERE ${after} ORDER BY t
       ON CONFLICT ("tenant_id") DO UPDATE SET "tenant_id" = EXCLUDED."tenant_id"
       RETURNING *`;
}

/** Use and limits of the usage rows a CTE of `lockQuotaRowsUpsertSql` returned. */
export function quotaRowsSelectSql(usage: string): string {
  return `SELECT u."tenant_id", u."cpu_millis", u."memory_mib", u."pids", u."workloads", u."vms",
            q."cpu_millis" AS "limit_cpu_millis", q."memory_mib" AS "limit_memory_mib", q."pids" AS "limit_pids",
            q."workloads" AS "limit_workloads", q."vms" AS "limit_vms"
       FROM ${usage} u LEFT JOIN "${SCHEMA}"."tenant_quotas" q ON q."tenant_id" = u."tenant_id"`;
}

/**
 * The charge of quota rows this transaction already holds locked (`lockQuotaRowsUpsertSql`), as a CTE
 * body for a larger statement: `charges` is a relation of `(tenant_id, cpu_millis, memory_mib,
 * pids, workloads, vms)`, one row per tenant, already checked against every limit; `tenants` a
 * `uuid[]` parameter holding (at least) those tenants. The planner cannot know how few rows a
 * CTE gives (it guesses 100), so without the array it joined by scanning every usage row.
 */
export function chargeLockedQuotasSql(charges: string, tenants: string): string {
  return `UPDATE "${SCHEMA}"."quota_usage" u
        SET "cpu_millis" = u."cpu_millis" + c."cpu_millis", "memory_mib" = u."memory_mib" + c."memory_mib", "pids" = u."pids" + c."pids",
            "workloads" = u."workloads" + c."workloads", "vms" = u."vms" + c."vms"
       FROM ${charges} AS c
      WHERE u."tenant_id" = ANY(${tenants}::uuid[]) AND u."tenant_id" = c."tenant_id"`;
}

/**
 * Charges `delta` to the tenant inside the caller's transaction, or throws `quota_exceeded`
 * (the caller's transaction then rolls back whatever it wrote). Call it last in a transaction:
 * the lock is held until commit.
 */
export async function chargeQuota(manager: EntityManager, tenantId: string, delta: QuotaAmounts, defaults: QuotaAmounts): Promise<void> {
  // One statement: the upsert takes the row lock (also when the row exists and the WHERE of
  // DO UPDATE refuses the change), the limits are compared with the locked row's use, and the
  // charge is applied only when every quota holds. No row back: over some quota (or the
  // request alone exceeds a limit, then nothing was even proposed).
  const limit = (column: string, parameter: number) =>
    `coalesce((SELECT q."${column}" FROM "${SCHEMA}"."tenant_quotas" q WHERE q."tenant_id" = $1::uuid), $${parameter}::bigint)`;
  const fits = (used: (column: string) => string) =>
    (['cpu_millis', 'memory_mib', 'pids', 'workloads', 'vms'] as const)
      .map((column, i) => `(${AMOUNT[i]} <= 0 OR ${used(column)} + ${AMOUNT[i]} <= ${limit(column, i + 7)})`)
      .join(' AND ');
  const charged = await queryRows<{ tenant_id: string }>(
    manager,
    `INSERT INTO "${SCHEMA}"."quota_usage" AS u ("tenant_id", "cpu_millis", "memory_mib", "pids", "workloads", "vms")
     SELECT $1::uuid, ${AMOUNT.join(', ')} WHERE ${fits(() => '0')}
     ON CONFLICT ("tenant_id") DO UPDATE SET
       "cpu_millis" = u."cpu_millis" + ${AMOUNT[0]}, "memory_mib" = u."memory_mib" + ${AMOUNT[1]}, "pids" = u."pids" + ${AMOUNT[2]},
       "workloads" = u."workloads" + ${AMOUNT[3]}, "vms" = u."vms" + ${AMOUNT[4]}
     WHERE ${fits((column) => `u."${column}"`)}
     RETURNING u."tenant_id"`,
    [tenantId, delta.cpuMillis, delta.memoryMiB, delta.pids, delta.workloads, delta.vms, defaults.cpuMillis, defaults.memoryMiB, defaults.pids, defaults.workloads, defaults.vms],
  );
  if (charged.length > 0) return;
  // Refused: say which quota, from the row we still hold locked (or the request alone).
  const current = await lockUsage(manager, tenantId, defaults);
  const violation = quotaViolation(current.limits, current.used, delta);
  if (violation) throw quotaExceeded(violation);
  // The limits moved between the two statements (an operator raised one): it fits now.
  await addUsage(manager, tenantId, delta, 1);
}

/** The charged amounts' parameters, typed like their columns. */
const AMOUNT = ['$2::bigint', '$3::bigint', '$4::bigint', '$5::int', '$6::int'] as const;

/** Gives `delta` back (a workload was deleted). */
export async function releaseQuota(manager: EntityManager, tenantId: string, delta: QuotaAmounts): Promise<void> {
  await addUsage(manager, tenantId, delta, -1);
}

async function addUsage(manager: EntityManager, tenantId: string, delta: QuotaAmounts, sign: 1 | -1): Promise<void> {
  // GREATEST: usage never goes negative, even for a workload created before quotas were counted.
  await manager.query(
    `INSERT INTO "${SCHEMA}"."quota_usage" AS u ("tenant_id", "cpu_millis", "memory_mib", "pids", "workloads", "vms")
     VALUES ($1, GREATEST($2::bigint, 0), GREATEST($3::bigint, 0), GREATEST($4::bigint, 0), GREATEST($5::int, 0), GREATEST($6::int, 0))
     ON CONFLICT ("tenant_id") DO UPDATE SET
       "cpu_millis" = GREATEST(u."cpu_millis" + $2, 0),
       "memory_mib" = GREATEST(u."memory_mib" + $3, 0),
       "pids" = GREATEST(u."pids" + $4, 0),
       "workloads" = GREATEST(u."workloads" + $5, 0),
       "vms" = GREATEST(u."vms" + $6, 0)`,
    [tenantId, sign * delta.cpuMillis, sign * delta.memoryMiB, sign * delta.pids, sign * delta.workloads, sign * delta.vms],
  );
}

/** Use and limits without locking (reads). */
export async function readQuota(manager: EntityManager, tenantId: string, defaults: QuotaAmounts): Promise<QuotaView> {
  const [row] = await queryRows<UsageRow>(
    manager,
    `SELECT coalesce(u."cpu_millis", 0) AS "cpu_millis", coalesce(u."memory_mib", 0) AS "memory_mib", coalesce(u."pids", 0) AS "pids",
            coalesce(u."workloads", 0) AS "workloads", coalesce(u."vms", 0) AS "vms",
            q."cpu_millis" AS "limit_cpu_millis", q."memory_mib" AS "limit_memory_mib", q."pids" AS "limit_pids",
            q."workloads" AS "limit_workloads", q."vms" AS "limit_vms"
       FROM (SELECT $1::uuid AS "tenant_id") t
       LEFT JOIN "${SCHEMA}"."quota_usage" u ON u."tenant_id" = t."tenant_id"
       LEFT JOIN "${SCHEMA}"."tenant_quotas" q ON q."tenant_id" = t."tenant_id"`,
    [tenantId],
  );
  return toQuotaView(row!, defaults);
}

/** Applies an operator's overrides: a number sets, null resets to the default, absent keeps. */
export async function setQuotaOverrides(manager: EntityManager, tenantId: string, overrides: QuotaOverrides, operator: string): Promise<void> {
  const keep = (value: number | null | undefined) => (value === undefined ? 'keep' : 'set');
  const value = (v: number | null | undefined) => (v === undefined ? null : v);
  await manager.query(
    `INSERT INTO "${SCHEMA}"."tenant_quotas" AS q ("tenant_id", "cpu_millis", "memory_mib", "workloads", "vms", "pids", "updated_by")
     VALUES ($1, $2, $3, $4, $5, $11, $10)
     ON CONFLICT ("tenant_id") DO UPDATE SET
       "cpu_millis" = CASE WHEN $6 = 'set' THEN EXCLUDED."cpu_millis" ELSE q."cpu_millis" END,
       "memory_mib" = CASE WHEN $7 = 'set' THEN EXCLUDED."memory_mib" ELSE q."memory_mib" END,
       "workloads" = CASE WHEN $8 = 'set' THEN EXCLUDED."workloads" ELSE q."workloads" END,
       "vms" = CASE WHEN $9 = 'set' THEN EXCLUDED."vms" ELSE q."vms" END,
       "pids" = CASE WHEN $12 = 'set' THEN EXCLUDED."pids" ELSE q."pids" END,
       "updated_by" = EXCLUDED."updated_by", "updated_at" = now()`,
    [
      tenantId,
      value(overrides.cpuMillis),
      value(overrides.memoryMiB),
      value(overrides.workloads),
      value(overrides.vms),
      keep(overrides.cpuMillis),
      keep(overrides.memoryMiB),
      keep(overrides.workloads),
      keep(overrides.vms),
      operator,
      value(overrides.pids),
      keep(overrides.pids),
    ],
  );
}

/** A usage row (as `quotaRowsSelectSql` selects it; numbers may come as text or JSON numbers) as use and limits. */
export function toQuotaView(row: UsageRow, defaults: QuotaAmounts): QuotaView {
  const num = (v: string | number | null) => (v === null ? null : Number(v));
  return {
    limits: effectiveLimits(defaults, {
      cpuMillis: num(row.limit_cpu_millis),
      memoryMiB: num(row.limit_memory_mib),
      pids: num(row.limit_pids),
      workloads: num(row.limit_workloads),
      vms: num(row.limit_vms),
    }),
    used: { cpuMillis: Number(row.cpu_millis), memoryMiB: Number(row.memory_mib), pids: Number(row.pids), workloads: Number(row.workloads), vms: Number(row.vms) },
  };
}
