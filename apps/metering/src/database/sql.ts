import type { EntityManager } from 'typeorm';

export { queryRows } from '@gureum/database';

/** The schema this service owns; raw SQL names it explicitly. */
export const SCHEMA = 'metering';

/** Serialises work on one workload's rows across batches and replicas, until the transaction ends. */
export async function lockWorkload(manager: EntityManager, workloadId: string): Promise<void> {
  await manager.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`metering.workload.${workloadId}`]);
}

/** lockWorkload for many at once, in the order given (callers sort, so replicas never deadlock). */
export async function lockWorkloads(manager: EntityManager, workloadIds: readonly string[]): Promise<void> {
  if (workloadIds.length === 0) return;
  await manager.query(
    `SELECT pg_advisory_xact_lock(hashtext('metering.workload.' || w.id)) FROM unnest($1::text[]) WITH ORDINALITY AS w(id, n) ORDER BY w.n`,
    [workloadIds],
  );
}
