import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { QueryFailedError } from 'typeorm';

/** The schema this service owns; raw SQL names it explicitly (no search_path games). */
export const SCHEMA = 'scheduler';

/**
 * Rows of a raw statement, also for UPDATE/DELETE … RETURNING (TypeORM's `manager.query`
 * returns `[rows, count]` for those, so reading `.records` of the structured result is the
 * one shape that always works).
 */
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

const RETRYABLE_SQLSTATES = new Set(['40P01', '40001']); // deadlock_detected, serialization_failure

/**
 * A READ COMMITTED transaction, retried a few times when PostgreSQL aborted it to break a
 * deadlock: lock order is consistent within each use case but not across all of them (the
 * host monitor locks host → workloads, reports lock workloads → host).
 */
export async function inTransaction<T>(dataSource: DataSource, work: (manager: EntityManager) => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await dataSource.transaction('READ COMMITTED', work);
    } catch (error) {
      if (attempt >= attempts || !isRetryable(error)) throw error;
    }
  }
}

function isRetryable(error: unknown): boolean {
  if (!(error instanceof QueryFailedError)) return false;
  const code: unknown = (error.driverError as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && RETRYABLE_SQLSTATES.has(code);
}
