import type { EntityManager, QueryRunner } from 'typeorm';

/** The schema this service owns; raw SQL names it explicitly. */
export const SCHEMA = 'metering';

/** Rows of a raw statement, also for UPDATE/DELETE … RETURNING. */
export async function queryRows<Row>(manager: EntityManager, text: string, params: readonly unknown[] = []): Promise<Row[]> {
  const run = async (runner: QueryRunner) => (await runner.query(text, [...params], true)).records as Row[];
  if (manager.queryRunner) return run(manager.queryRunner);
  const runner = manager.connection.createQueryRunner();
  try {
    return await run(runner);
  } finally {
    await runner.release();
  }
}

/** Serialises work on one workload's rows across batches and replicas, until the transaction ends. */
export async function lockWorkload(manager: EntityManager, workloadId: string): Promise<void> {
  await manager.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`metering.workload.${workloadId}`]);
}
