import type { EntityManager } from 'typeorm';
import { SCHEMA } from '../database/sql';
import { aggregateSql, LIFECYCLE_SOURCES, REGISTRY_SOURCES, SAMPLE_SOURCES } from '../meters/aggregation';
import { loadMeters, type MeterDefinition } from '../meters/meter-catalog';

const S = `"${SCHEMA}"`;

/** Where a workload's sample rollups must be recomputed from. */
export interface RollupRange {
  workloadId: string;
  fromHour: Date;
}

/**
 * Recomputes (not increments) the hourly rollups of every sample-fed meter of the given
 * workloads, each from its `fromHour` on, from the raw samples: one statement, one pass over
 * the samples, every meter's aggregate a column that is then unpivoted into rollup rows.
 * Recomputing makes a redelivered or late batch harmless: the result depends only on which
 * samples exist.
 */
export async function recomputeSampleRollups(manager: EntityManager, sampleMeters: readonly SampleMeter[], ranges: readonly RollupRange[], only: (meter: MeterDefinition) => boolean = () => true): Promise<void> {
  if (ranges.length === 0) return;
  const meters = sampleMeters.filter(only);
  if (meters.length === 0) return;
  const aggregates = meters.map((meter, i) => `${aggregateSql(meter.aggregation, meter.value, 's.sampled_at')} AS q${i}`).join(', ');
  const unpivot = meters.map((_meter, i) => `($${i + 3}::text, a.q${i})`).join(', ');
  await manager.query(
    `INSERT INTO ${S}."rollups" ("tenant_id", "workload_id", "meter", "hour", "quantity", "updated_at")
     SELECT a.tenant_id, a.workload_id, v.meter, a.hour, v.quantity, now()
     FROM (
       SELECT s.workload_id, date_trunc('hour', s.sampled_at, 'UTC') AS hour, max(s.tenant_id::text)::uuid AS tenant_id, ${aggregates}
       FROM unnest($1::uuid[], $2::timestamptz[]) AS w(id, from_hour)
       -- LATERAL (OFFSET 0: not flattened into a join): an index range scan per workload, never a hash of the whole table.
       CROSS JOIN LATERAL (SELECT * FROM ${S}."samples" s WHERE s.workload_id = w.id AND s.sampled_at >= w.from_hour OFFSET 0) s
       GROUP BY s.workload_id, date_trunc('hour', s.sampled_at, 'UTC')
     ) a CROSS JOIN LATERAL (VALUES ${unpivot}) AS v(meter, quantity)
     WHERE v.quantity IS NOT NULL
     ON CONFLICT ("workload_id", "meter", "hour") WHERE "workload_id" IS NOT NULL
     DO UPDATE SET "quantity" = EXCLUDED."quantity", "tenant_id" = EXCLUDED."tenant_id", "updated_at" = now()`,
    [ranges.map((r) => r.workloadId), ranges.map((r) => r.fromHour), ...meters.map((m) => m.name)],
  );
}

/**
 * Adds samples that come after every stored sample of their workload (the usual case: agents
 * send in time order, so no stored delta changed) to the hourly rollups without re-reading
 * the hours: SUM and COUNT add, MAX keeps the greater, LATEST takes the new value. AVG cannot
 * be combined without the count: its meters are left to `recomputeSampleRollups`.
 *
 * Returns one `INSERT … ON CONFLICT DO UPDATE` over `rows` (a relation with the columns of
 * `samples`, e.g. the `RETURNING *` of the batch's insert in the same statement, so the new
 * rows are not read back) with its meter names as parameters numbered from `firstParam`; null
 * when no meter can be appended to. The batch's rows are aggregated per (workload, hour) in
 * one pass, every meter a column, unpivoted into rollup rows: one set-based upsert per batch.
 * `updated_at` is when the quantity last changed: a row the batch leaves as it is is not rewritten.
 */
export function appendToSampleRollupsSql(meters: readonly SampleMeter[], rows: string, firstParam: number): { sql: string; params: string[] } | null {
  const appendable = meters.filter(isAppendable);
  if (appendable.length === 0) return null;
  const aggregates = appendable.map((meter, i) => `${aggregateSql(meter.aggregation, meter.value, 's.sampled_at')} AS q${i}`).join(', ');
  const unpivot = appendable.map((_meter, i) => `($${firstParam + i}::text, a.q${i})`).join(', ');
  const current = `${S}."rollups"."quantity"`;
  const combine = appendable
    .map((meter) => {
      const combined = meter.aggregation === 'MAX' ? `GREATEST(${current}, EXCLUDED."quantity")` : meter.aggregation === 'LATEST' ? `EXCLUDED."quantity"` : `${current} + EXCLUDED."quantity"`;
      return `WHEN '${meter.name.replace(/'/g, "''")}' THEN ${combined}`;
    })
    .join(' ');
  return {
    sql: `INSERT INTO ${S}."rollups" ("tenant_id", "workload_id", "meter", "hour", "quantity", "updated_at")
     SELECT a.tenant_id, a.workload_id, v.meter, a.hour, v.quantity, now()
     FROM (
       SELECT s.workload_id, date_trunc('hour', s.sampled_at, 'UTC') AS hour, max(s.tenant_id::text)::uuid AS tenant_id, ${aggregates}
       FROM ${rows} s
       GROUP BY s.workload_id, date_trunc('hour', s.sampled_at, 'UTC')
     ) a CROSS JOIN LATERAL (VALUES ${unpivot}) AS v(meter, quantity)
     WHERE v.quantity IS NOT NULL
     ON CONFLICT ("workload_id", "meter", "hour") WHERE "workload_id" IS NOT NULL
     DO UPDATE SET "quantity" = CASE EXCLUDED."meter" ${combine} END, "tenant_id" = EXCLUDED."tenant_id", "updated_at" = now()
     -- A row the batch does not change (a MAX already reached, a SUM of zero deltas) is not rewritten: no new tuple version.
     WHERE (CASE EXCLUDED."meter" ${combine} END) IS DISTINCT FROM ${current} OR ${S}."rollups"."tenant_id" IS DISTINCT FROM EXCLUDED."tenant_id"`,
    params: appendable.map((m) => m.name),
  };
}

/** Whether a meter's hourly value can be updated from new samples alone. */
export function isAppendable(meter: MeterDefinition): boolean {
  return meter.aggregation !== 'AVG';
}

/** A meter fed by samples, with the SQL of the value a sample (alias `s`) contributes. */
export type SampleMeter = MeterDefinition & { value: string };

/** The sample-fed meters as they are now (read once per batch: a new meter row counts from the next batch on). */
export async function loadSampleMeters(manager: EntityManager): Promise<SampleMeter[]> {
  return (await loadMeters(manager, 'sample.')).flatMap((meter) => {
    const value = SAMPLE_SOURCES[meter.source];
    return value ? [{ ...meter, value }] : [];
  });
}

/** Rebuilds every hourly rollup of the lifecycle-fed meters of one workload from its allocation segments. */
export async function rebuildLifecycleRollups(manager: EntityManager, workloadId: string): Promise<void> {
  for (const meter of await loadMeters(manager, 'lifecycle.')) {
    const value = LIFECYCLE_SOURCES[meter.source];
    if (!value) continue;
    await manager.query(`DELETE FROM ${S}."rollups" WHERE "workload_id" = $1 AND "meter" = $2`, [workloadId, meter.name]);
    await manager.query(
      `INSERT INTO ${S}."rollups" ("tenant_id", "workload_id", "meter", "hour", "quantity", "updated_at")
       SELECT g.tenant_id, g.workload_id, $2, g.hour, ${aggregateSql(meter.aggregation, value, 'g.started_at')}, now()
       FROM ${S}."allocation_segments" g
       WHERE g.workload_id = $1
       GROUP BY g.tenant_id, g.workload_id, g.hour`,
      [workloadId, meter.name],
    );
  }
}

/**
 * Rebuilds one tenant's hourly rollups of the registry meters from `fromHour` on, from its
 * registry storage segments (see RecordRegistryStorageUseCase).
 */
export async function rebuildRegistryRollups(manager: EntityManager, tenantId: string, fromHour: Date, segmentsSql: string, segmentParams: unknown[]): Promise<void> {
  for (const meter of await loadMeters(manager, 'registry.')) {
    const value = REGISTRY_SOURCES[meter.source];
    if (!value) continue;
    await manager.query(`DELETE FROM ${S}."rollups" WHERE "workload_id" IS NULL AND "tenant_id" = $1 AND "meter" = $2 AND "hour" >= $3`, [tenantId, meter.name, fromHour]);
    const base = segmentParams.length;
    await manager.query(
      `INSERT INTO ${S}."rollups" ("tenant_id", "workload_id", "meter", "hour", "quantity", "updated_at")
       SELECT $${base + 1}::uuid, NULL, $${base + 2}::text, g.hour, ${aggregateSql(meter.aggregation, value, 'g.started_at')}, now()
       FROM (${segmentsSql}) g
       WHERE g.hour >= $${base + 3}
       GROUP BY g.hour`,
      [...segmentParams, tenantId, meter.name, fromHour],
    );
  }
}
