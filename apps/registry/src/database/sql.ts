import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { QueryFailedError } from 'typeorm';

/** The schema this service owns; raw SQL names it explicitly. */
export const SCHEMA = 'registry';

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

const RETRYABLE_SQLSTATES = new Set(['40P01', '40001', '23505']); // deadlock, serialization, a racing insert

/** A READ COMMITTED transaction, retried when PostgreSQL aborted it to break a deadlock or a racing insert won. */
export async function inTransaction<T>(dataSource: DataSource, work: (manager: EntityManager) => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await dataSource.transaction('READ COMMITTED', work);
    } catch (error) {
      if (attempt >= attempts || !hasSqlState(error, RETRYABLE_SQLSTATES)) throw error;
    }
  }
}

export function hasSqlState(error: unknown, states: ReadonlySet<string>): boolean {
  if (!(error instanceof QueryFailedError)) return false;
  const code: unknown = (error.driverError as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && states.has(code);
}
