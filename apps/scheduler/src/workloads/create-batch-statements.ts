import { eventDef } from '@gureum/contracts';
import { SCHEMA } from '../database/sql';
import { DEDICATED_LABEL } from '../placement/placement';
import { chargeLockedQuotasSql, lockQuotaRowsUpsertSql, quotaRowsSelectSql } from '../quotas/quota-store';

/**
 * The statements a batch of creates commits, as text and parameters, so the scheduler bench
 * can issue exactly these, bare, as the floor the database sets (`test/bench/scheduler.bench.mjs`).
 * Every batch parameter is one JSON array (`jsonb_to_recordset`): one parameter however many
 * members, and JSON nulls, arrays and objects arrive as they are.
 */

export interface Statement {
  text: string;
  values: unknown[];
}

const STATE_SUBJECT = eventDef('evt.workload.state.v1').subject;

/** The history row's own timestamp into the outbox payload, as `recordTransition` does it. */
const AT = `to_jsonb(to_char(ev."at" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))`;

/** A new workload of a batch, with the id of its `pending` event and that event's payload. */
export interface PendingWorkload {
  id: string;
  tenant_id: string;
  name: string;
  kind: string;
  image: string;
  command: string[] | null;
  env: Record<string, string> | null;
  cpu_millis: number;
  memory_mib: number;
  pids: number;
  idempotency_key: string | null;
  placement: object | null;
  priority: number;
  preemptible: boolean;
  vm: object | null;
  event_id: string;
  payload: object;
}

function pendingValues(workloads: readonly PendingWorkload[]): [string, string] {
  return [JSON.stringify(workloads.map((workload, ord) => ({ ...workload, ord }))), STATE_SUBJECT];
}

/**
 * CTEs that insert the batch's workloads as `pending` with their history and outbox rows
 * (`ins` holds the inserted rows; `$members`, `$subject` are its two parameters). A member
 * whose idempotency key is taken is not inserted (ON CONFLICT waits for a concurrent holder
 * of the key to commit or roll back) and gets no events. Rows go in in (tenant, key) order,
 * so two batches sharing keys wait for each other instead of deadlocking.
 */
function insertPendingCtes(members: string, subject: string): string {
  return `"m" AS (
       SELECT * FROM jsonb_to_recordset(${members}::jsonb) AS m(
         "id" uuid, "tenant_id" uuid, "name" text, "kind" text, "image" text, "command" jsonb, "env" jsonb,
         "cpu_millis" int, "memory_mib" int, "pids" int, "idempotency_key" text, "placement" jsonb,
         "priority" int, "preemptible" boolean, "vm" jsonb, "event_id" uuid, "payload" jsonb, "ord" int)
     ), "ins" AS (
       INSERT INTO "${SCHEMA}"."workloads"
         ("id", "tenant_id", "name", "kind", "image", "command", "env", "cpu_millis", "memory_mib", "pids",
          "state", "desired_state", "generation", "idempotency_key",
          "placement", "affinity_group", "anti_affinity_group", "priority", "preemptible", "vm")
       SELECT "id", "tenant_id", "name", "kind", "image", nullif("command", 'null'::jsonb), nullif("env", 'null'::jsonb),
              "cpu_millis", "memory_mib", "pids", 'pending', 'running', 0, "idempotency_key",
              nullif("placement", 'null'::jsonb), NULL, NULL, "priority", "preemptible", nullif("vm", 'null'::jsonb)
         FROM "m" ORDER BY "tenant_id", "idempotency_key", "ord"
       ON CONFLICT ON CONSTRAINT "workloads_tenant_idempotency_key" DO NOTHING
       RETURNING *
     ), "ev" AS (
       INSERT INTO "${SCHEMA}"."workload_events" ("event_id", "workload_id", "from_state", "to_state", "reason")
       SELECT m."event_id", m."id", NULL, 'pending', NULL FROM "m" JOIN "ins" ON "ins"."id" = m."id" ORDER BY m."ord"
       RETURNING "event_id", "at"
     ), "ob" AS (
       INSERT INTO "${SCHEMA}"."outbox" ("message_id", "subject", "payload")
       SELECT m."event_id", ${subject}, jsonb_set(m."payload", '{at}', ${AT}) FROM "m" JOIN "ev" ON ev."event_id" = m."event_id" ORDER BY m."ord"
     )`;
}

/**
 * Locks the batch's candidate hosts, in id order (two batches never deadlock on hosts), and
 * returns their newest committed versions: under READ COMMITTED a row lock is taken on the
 * latest version, and until this transaction ends nobody else changes it. `images` carries
 * only those of `images` the host has (the filters ask no more). `after` gates the scan.
 */
function lockedHostsSelect(hostIds: string, images: string, after: string): string {
  return `SELECT "id", "state", "drivers", "labels",
              ARRAY(SELECT i FROM unnest(${images}::text[]) i WHERE h."images" @> ARRAY[i]) AS "images",
              "capacity_cpu_millis", "capacity_memory_mib", "capacity_pids",
              "allocated_cpu_millis", "allocated_memory_mib", "allocated_pids"
         FROM "${SCHEMA}"."hosts" h WHERE "id" = ANY(${hostIds}::text[]) AND ${after} ORDER BY "id" FOR UPDATE`;
}

/**
 * The batch's insert (`insertPendingCtes`), host locks (`lockedHostsSelect`) and quota row
 * locks (`lockQuotaRowsUpsertSql`) as ONE statement (one round trip instead of three), in the
 * lock order of every path: each step's scan is gated on an
 * uncorrelated subquery over the previous step's rows (an InitPlan, run to completion before
 * the scan starts), so the workload rows are inserted (waiting on any concurrent holder of a
 * key) before a host is locked, and every host is locked (in id order) before a quota row (in
 * tenant id order). The locking clauses behave as in their own statements under READ
 * COMMITTED: `FOR UPDATE` and the upsert's `DO UPDATE` lock the newest committed version and
 * return it, so the rows returned are what `settleBatch` must check, whatever committed while
 * we waited. Hosts are the candidates of every member, also of one whose key turns out taken
 * (a replay): at worst a few host locks more, never fewer.
 *
 * One row back: `inserted` (ids), `hosts` (the locked host rows), `quotas` (use and
 * limits, `quotaRowsSelectSql`), each a JSON array.
 */
export function lockBatchStatement(workloads: readonly PendingWorkload[], hostIds: readonly string[], images: readonly string[], tenantIds: readonly string[]): Statement {
  return {
    // The leading comment names the statement in pg_stat_activity, which keeps only its first 1 kB.
    text: `/* create batch: insert and lock */ WITH ${insertPendingCtes('$1', '$2')}, "locked" AS (
       ${lockedHostsSelect('$3', '$4', `(SELECT count(*) FROM "ins") >= 0`)}
     ), "usage" AS (
       ${lockQuotaRowsUpsertSql('$5', `(SELECT count(*) FROM "locked") >= 0`)}
     )
     SELECT (SELECT coalesce(json_agg("id"), '[]') FROM "ins") AS "inserted",
            (SELECT coalesce(json_agg(l ORDER BY l."id"), '[]') FROM "locked" l) AS "hosts",
            (SELECT coalesce(json_agg(q), '[]') FROM (${quotaRowsSelectSql('"usage"')}) q) AS "quotas"`,
    values: [...pendingValues(workloads), [...hostIds], [...images], [...tenantIds]],
  };
}

export interface PlacedClaim {
  workload_id: string;
  host_id: string;
  cpu_millis: number;
  memory_mib: number;
  pids: number;
  /** The `scheduled` event: its id and payload (`at` filled in from the history row). */
  event_id: string;
  payload: object;
}

export interface QuotaCharge {
  tenant_id: string;
  cpu_millis: number;
  memory_mib: number;
  workloads: number;
  vms: number;
}

/**
 * Everything else of a batch, in one statement, once its hosts and quota rows are locked and
 * every member is settled: the claims, each host's allocation (one update per host, its
 * generation up by one per claim, as single claims count it), each tenant's quota charge, the workloads to `scheduled` with their
 * history and outbox rows, and the removal of the members that were inserted but not placed
 * (over quota, or no room any more) with their `pending` events — as if they were never
 * written. Returns the placed workloads as stored.
 */
export function settleStatement(placed: readonly PlacedClaim[], charges: readonly QuotaCharge[], removed: readonly { workload_id: string; event_id: string }[]): Statement {
  return {
    text: `WITH "p" AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS p(
         "workload_id" uuid, "host_id" text, "cpu_millis" int, "memory_mib" int, "pids" int, "event_id" uuid, "payload" jsonb, "ord" int)
     ), "claim" AS (
       INSERT INTO "${SCHEMA}"."claims" ("workload_id", "host_id", "cpu_millis", "memory_mib", "pids")
       SELECT "workload_id", "host_id", "cpu_millis", "memory_mib", "pids" FROM "p"
     ), "alloc" AS (
       UPDATE "${SCHEMA}"."hosts" h
          SET "allocated_cpu_millis" = h."allocated_cpu_millis" + s."cpu_millis",
              "allocated_memory_mib" = h."allocated_memory_mib" + s."memory_mib",
              "allocated_pids" = h."allocated_pids" + s."pids",
              "generation" = h."generation" + s."claims",
              "updated_at" = now()
         FROM (SELECT "host_id", sum("cpu_millis")::int AS "cpu_millis", sum("memory_mib")::int AS "memory_mib", sum("pids")::int AS "pids",
                      count(*)::int AS "claims"
                 FROM "p" GROUP BY "host_id") s
        WHERE h."id" = s."host_id"
     ), "charge" AS (
       ${chargeLockedQuotasSql('$2')}
     ), "placed" AS (
       UPDATE "${SCHEMA}"."workloads" w SET "state" = 'scheduled', "host_id" = p."host_id", "reason" = NULL, "updated_at" = now()
         FROM "p" WHERE w."id" = p."workload_id"
       RETURNING w.*
     ), "ev" AS (
       INSERT INTO "${SCHEMA}"."workload_events" ("event_id", "workload_id", "from_state", "to_state", "reason", "host_id")
       SELECT "event_id", "workload_id", 'pending', 'scheduled', NULL, "host_id" FROM "p" ORDER BY "ord"
       RETURNING "event_id", "at"
     ), "ob" AS (
       INSERT INTO "${SCHEMA}"."outbox" ("message_id", "subject", "payload")
       SELECT p."event_id", $4, jsonb_set(p."payload", '{at}', ${AT}) FROM "p" JOIN "ev" ON ev."event_id" = p."event_id" ORDER BY p."ord"
     ), "gone" AS (
       SELECT * FROM jsonb_to_recordset($3::jsonb) AS g("workload_id" uuid, "event_id" uuid)
     ), "drop_outbox" AS (
       DELETE FROM "${SCHEMA}"."outbox" o USING "gone" g WHERE o."message_id" = g."event_id"
     ), "drop_events" AS (
       DELETE FROM "${SCHEMA}"."workload_events" e USING "gone" g WHERE e."workload_id" = g."workload_id"
     ), "drop_workloads" AS (
       DELETE FROM "${SCHEMA}"."workloads" w USING "gone" g WHERE w."id" = g."workload_id"
     )
     SELECT * FROM "placed"`,
    values: [JSON.stringify(placed.map((claim, ord) => ({ ...claim, ord }))), JSON.stringify(charges), JSON.stringify(removed), STATE_SUBJECT],
  };
}

/** A member of a batch before anything is written: its tenant, key and what the fleet check needs. */
export interface PrecheckMember {
  tenant_id: string;
  idempotency_key: string | null;
  image: string;
  cpu_millis: number;
  memory_mib: number;
  pids: number;
}

/**
 * The single create's pre-check for a whole batch, one round trip: per member (in order,
 * `ord` from 0), its earlier workload by idempotency key (`w.*`, null when none), whether its
 * tenant is suspended, and whether any host has the image and could hold it at all; and, the
 * same on every row, the tenants some host is dedicated to (they rank alone, see BatchRanker).
 */
export function precheckStatement(members: readonly PrecheckMember[], reserved: { cpuMillis: number; memoryMiB: number; pids: number }): Statement {
  return {
    text: `SELECT m."ord",
              EXISTS (SELECT 1 FROM "${SCHEMA}"."hosts" WHERE "images" @> ARRAY[m."image"]) AS "has_image",
              EXISTS (SELECT 1 FROM "${SCHEMA}"."hosts"
                       WHERE "capacity_cpu_millis" - $2 >= m."cpu_millis" AND "capacity_memory_mib" - $3 >= m."memory_mib" AND "capacity_pids" - $4 >= m."pids") AS "fits",
              EXISTS (SELECT 1 FROM "${SCHEMA}"."suspended_tenants" s WHERE s."tenant_id" = m."tenant_id") AS "suspended",
              (SELECT coalesce(array_agg(DISTINCT d."labels"->>'${DEDICATED_LABEL}'), '{}') FROM "${SCHEMA}"."hosts" d WHERE d."labels" ? '${DEDICATED_LABEL}') AS "dedicated_tenants",
              w.*
         FROM jsonb_to_recordset($1::jsonb) AS m("tenant_id" uuid, "idempotency_key" text, "image" text, "cpu_millis" int, "memory_mib" int, "pids" int, "ord" int)
         LEFT JOIN "${SCHEMA}"."workloads" w ON w."tenant_id" = m."tenant_id" AND w."idempotency_key" = m."idempotency_key"
        ORDER BY m."ord"`,
    values: [JSON.stringify(members.map((member, ord) => ({ ...member, ord }))), reserved.cpuMillis, reserved.memoryMiB, reserved.pids],
  };
}

/** The workloads that hold these idempotency keys (the winners of keys a batch found taken). */
export function workloadsByKeyStatement(keys: readonly { tenant_id: string; idempotency_key: string }[]): Statement {
  return {
    text: `SELECT w.* FROM jsonb_to_recordset($1::jsonb) AS k("tenant_id" uuid, "idempotency_key" text)
             JOIN "${SCHEMA}"."workloads" w ON w."tenant_id" = k."tenant_id" AND w."idempotency_key" = k."idempotency_key"`,
    values: [JSON.stringify(keys)],
  };
}
