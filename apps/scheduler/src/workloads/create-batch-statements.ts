import { eventDef } from '@gureum/contracts';
import { SCHEMA } from '../database/sql';
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

/**
 * A member of a batch as it is written once settled: its workload (inserted `scheduled` on
 * `host_id`), the claim on that host (`claim_*`: what the host gives, a VM's QEMU overhead
 * included), the tenant's quota charge (`quota_*`), and its opening event (id and payload).
 */
export interface SettledMember {
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
  read_only_root_filesystem: boolean;
  vm: object | null;
  host_id: string;
  claim_cpu_millis: number;
  claim_memory_mib: number;
  claim_pids: number;
  quota_cpu_millis: number;
  quota_memory_mib: number;
  quota_pids: number;
  quota_workloads: number;
  quota_vms: number;
  event_id: string;
  /** The `evt.workload.state.v1` payload, `from: null, to: 'scheduled'` (`at` filled in from the history row). */
  payload: object;
}

/**
 * Locks the batch's candidate hosts, in id order (two batches never deadlock on hosts), and
 * returns their newest committed versions: under READ COMMITTED a row lock is taken on the
 * latest version, and until this transaction ends nobody else changes it. `images` carries
 * only those of `images` the host has (the filters ask no more).
 */
function lockedHostsSelect(hostIds: string, images: string): string {
  return `SELECT "id", "state", "drivers", "labels",
              ARRAY(SELECT i FROM unnest(${images}::text[]) i WHERE h."images" @> ARRAY[i]) AS "images",
              "capacity_cpu_millis", "capacity_memory_mib", "capacity_pids",
              "allocated_cpu_millis", "allocated_memory_mib", "allocated_pids"
         FROM "${SCHEMA}"."hosts" h WHERE "id" = ANY(${hostIds}::text[]) ORDER BY "id" FOR UPDATE`;
}

/** A member's idempotency key, for the lock statement's look-up of keys already taken. */
export interface MemberKey {
  tenant_id: string;
  idempotency_key: string;
}

/**
 * Statement 1 of a batch: the host locks (`lockedHostsSelect`) and the quota row locks
 * (`lockQuotaRowsUpsertSql`) in one round trip, every host (in id order) before any quota
 * row (in tenant id order), as on every path: the quota scan is gated on an uncorrelated
 * subquery over the locked hosts (an InitPlan, run to completion before the scan starts).
 * The locking clauses behave as in their own statements under READ COMMITTED: `FOR UPDATE`
 * and the upsert's `DO UPDATE` lock the newest committed version and return it, so the rows
 * returned are what `settleBatch` must check, whatever committed while we waited.
 *
 * The same round trip answers what a single create asks before its transaction: which of
 * the members' idempotency keys an earlier workload already holds (`taken`: those members are
 * replays; a key committed after this statement began is caught by the write's ON CONFLICT),
 * and which of the tenants are suspended (`suspended`) — both read from the statement's
 * snapshot, taken before any lock wait, as a separate read just before would have seen them.
 *
 * One row back: `hosts` (the locked host rows), `quotas` (use and limits,
 * `quotaRowsSelectSql`), `taken` (the keys, as `[tenant_id, idempotency_key]`) and
 * `suspended` (tenant ids), each a JSON array.
 */
export function lockBatchStatement(hostIds: readonly string[], images: readonly string[], tenantIds: readonly string[], keys: readonly MemberKey[]): Statement {
  return {
    // The leading comment names the statement in pg_stat_activity, which keeps only its first 1 kB.
    text: `/* create batch: lock */ WITH "locked" AS (
       ${lockedHostsSelect('$1', '$2')}
     ), "usage" AS (
       ${lockQuotaRowsUpsertSql('$3', `(SELECT count(*) FROM "locked") >= 0`)}
     )
     SELECT (SELECT coalesce(json_agg(l ORDER BY l."id"), '[]') FROM "locked" l) AS "hosts",
            (SELECT coalesce(json_agg(q), '[]') FROM (${quotaRowsSelectSql('"usage"')}) q) AS "quotas",
            (SELECT coalesce(json_agg(json_build_array(w."tenant_id", w."idempotency_key")), '[]')
               FROM jsonb_to_recordset($4::jsonb) AS k("tenant_id" uuid, "idempotency_key" text)
               JOIN "${SCHEMA}"."workloads" w ON w."tenant_id" = k."tenant_id" AND w."idempotency_key" = k."idempotency_key") AS "taken",
            (SELECT coalesce(json_agg(s."tenant_id"), '[]') FROM "${SCHEMA}"."suspended_tenants" s WHERE s."tenant_id" = ANY($3::uuid[])) AS "suspended"`,
    values: [[...hostIds], [...images], [...tenantIds], JSON.stringify(keys)],
  };
}

/**
 * Statement 2 of a batch, once its hosts and quota rows are locked and every member is
 * settled: each placed member's workload is inserted straight as `scheduled` on its host
 * (never as a `pending` row that is updated a moment later: one row version, one history
 * row and one outbox event per create instead of two of each), and for exactly the members
 * inserted, their claims, each host's allocation (one update per host, its generation up by
 * one per claim, as single claims count it), each tenant's quota charge, and the history and
 * outbox rows of their opening `null → scheduled` transition. A member whose idempotency key
 * is taken is not inserted and gets nothing else (a replay); ON CONFLICT waits for a
 * concurrent holder of the key to commit or roll back. Rows go in in (tenant, key) order, so
 * two batches sharing keys wait for each other instead of deadlocking. Members that were not
 * placed (over quota, no room any more) are simply not in `members`: nothing of them is
 * written. Returns the inserted workloads as stored. The host and tenant ids also go as arrays
 * ($3, $4), so the allocation and charge updates find their rows by index: joined only to the
 * CTE, PostgreSQL guessed 100 rows for it and scanned all 10,000 hosts, 2.3 of the statement's
 * 7.9 ms for a batch of 64 (`EXPLAIN ANALYZE`).
 */
export function writeBatchStatement(members: readonly SettledMember[]): Statement {
  return {
    text: `/* create batch: write */ WITH "m" AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS m(
         "id" uuid, "tenant_id" uuid, "name" text, "kind" text, "image" text, "command" jsonb, "env" jsonb,
         "cpu_millis" int, "memory_mib" int, "pids" int, "idempotency_key" text, "placement" jsonb,
         "priority" int, "preemptible" boolean, "read_only_root_filesystem" boolean, "vm" jsonb, "host_id" text,
         "claim_cpu_millis" int, "claim_memory_mib" int, "claim_pids" int,
         "quota_cpu_millis" bigint, "quota_memory_mib" bigint, "quota_pids" bigint, "quota_workloads" int, "quota_vms" int,
         "event_id" uuid, "payload" jsonb, "ord" int)
     ), "ins" AS (
       INSERT INTO "${SCHEMA}"."workloads"
         ("id", "tenant_id", "name", "kind", "image", "command", "env", "cpu_millis", "memory_mib", "pids",
          "state", "desired_state", "generation", "idempotency_key", "host_id",
          "placement", "affinity_group", "anti_affinity_group", "priority", "preemptible", "read_only_root_filesystem", "vm")
       SELECT "id", "tenant_id", "name", "kind", "image", nullif("command", 'null'::jsonb), nullif("env", 'null'::jsonb),
              "cpu_millis", "memory_mib", "pids", 'scheduled', 'running', 0, "idempotency_key", "host_id",
              nullif("placement", 'null'::jsonb), NULL, NULL, "priority", "preemptible", "read_only_root_filesystem", nullif("vm", 'null'::jsonb)
         FROM "m" ORDER BY "tenant_id", "idempotency_key", "ord"
       ON CONFLICT ON CONSTRAINT "workloads_tenant_idempotency_key" DO NOTHING
       RETURNING *
     ), "p" AS (
       SELECT m.* FROM "m" JOIN "ins" ON "ins"."id" = m."id"
     ), "claim" AS (
       INSERT INTO "${SCHEMA}"."claims" ("workload_id", "host_id", "cpu_millis", "memory_mib", "pids")
       SELECT "id", "host_id", "claim_cpu_millis", "claim_memory_mib", "claim_pids" FROM "p"
     ), "alloc" AS (
       UPDATE "${SCHEMA}"."hosts" h
          SET "allocated_cpu_millis" = h."allocated_cpu_millis" + s."cpu_millis",
              "allocated_memory_mib" = h."allocated_memory_mib" + s."memory_mib",
              "allocated_pids" = h."allocated_pids" + s."pids",
              "generation" = h."generation" + s."claims",
              "updated_at" = now()
         FROM (SELECT "host_id", sum("claim_cpu_millis")::int AS "cpu_millis", sum("claim_memory_mib")::int AS "memory_mib",
                      sum("claim_pids")::int AS "pids", count(*)::int AS "claims"
                 FROM "p" GROUP BY "host_id") s
        WHERE h."id" = ANY($3::text[]) AND h."id" = s."host_id"
     ), "charge" AS (
       ${chargeLockedQuotasSql(`(SELECT "tenant_id", sum("quota_cpu_millis") AS "cpu_millis", sum("quota_memory_mib") AS "memory_mib",
                 sum("quota_pids") AS "pids", sum("quota_workloads") AS "workloads", sum("quota_vms") AS "vms" FROM "p" GROUP BY "tenant_id")`, '$4')}
     ), "ev" AS (
       INSERT INTO "${SCHEMA}"."workload_events" ("event_id", "workload_id", "from_state", "to_state", "reason", "host_id")
       SELECT "event_id", "id", NULL, 'scheduled', NULL, "host_id" FROM "p" ORDER BY "ord"
       RETURNING "event_id", "at"
     ), "ob" AS (
       INSERT INTO "${SCHEMA}"."outbox" ("message_id", "subject", "payload")
       SELECT p."event_id", $2, jsonb_set(p."payload", '{at}', ${AT}) FROM "p" JOIN "ev" ON ev."event_id" = p."event_id" ORDER BY p."ord"
     )
     SELECT * FROM "ins"`,
    values: [
      JSON.stringify(members.map((member, ord) => ({ ...member, ord }))),
      STATE_SUBJECT,
      [...new Set(members.map((member) => member.host_id))],
      [...new Set(members.map((member) => member.tenant_id))],
    ],
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
