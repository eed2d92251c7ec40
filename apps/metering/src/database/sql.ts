import type { EntityManager } from 'typeorm';

export { queryRows } from '@gureum/database';

/** The schema this service owns; raw SQL names it explicitly. */
export const SCHEMA = 'metering';

/** Serialises work on one workload's rows across batches and replicas, until the transaction ends. */
export async function lockWorkload(manager: EntityManager, workloadId: string): Promise<void> {
  await manager.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`metering.workload.${workloadId}`]);
}
