import type { EntityManager } from 'typeorm';
import { SCHEMA } from '../database/sql';
import { aggregateSql, LIFECYCLE_SOURCES, SAMPLE_SOURCES } from '../meters/aggregation';
import { loadMeters } from '../meters/meter-catalog';

const S = `"${SCHEMA}"`;

/**
 * Recomputes (not increments) the hourly rollups of the sample-fed meters of one workload
 * from `fromHour` on, from the raw samples. Recomputing makes a redelivered or late batch
 * harmless: the result depends only on which samples exist.
 */
export async function recomputeSampleRollups(manager: EntityManager, workloadId: string, fromHour: Date): Promise<void> {
  for (const meter of await loadMeters(manager, 'sample.')) {
    const value = SAMPLE_SOURCES[meter.source];
    if (!value) continue;
    await manager.query(
      `INSERT INTO ${S}."rollups" ("tenant_id", "workload_id", "meter", "hour", "quantity", "updated_at")
       SELECT s.tenant_id, s.workload_id, $3, date_trunc('hour', s.sampled_at, 'UTC'), ${aggregateSql(meter.aggregation, value, 's.sampled_at')}, now()
       FROM ${S}."samples" s
       WHERE s.workload_id = $1 AND s.sampled_at >= $2
       GROUP BY s.tenant_id, s.workload_id, date_trunc('hour', s.sampled_at, 'UTC')
       ON CONFLICT ("workload_id", "meter", "hour") DO UPDATE SET "quantity" = EXCLUDED."quantity", "tenant_id" = EXCLUDED."tenant_id", "updated_at" = now()`,
      [workloadId, fromHour, meter.name],
    );
  }
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
