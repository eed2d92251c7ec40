import { QueryFailedError, type DataSource, type EntityManager, type QueryRunner } from 'typeorm';

/**
 * Rows of a raw statement, also for UPDATE/DELETE … RETURNING (TypeORM's `manager.query`
 * returns `[rows, count]` for those, so reading `.records` of the structured result is the
 * one shape that always works). Runs inside the manager's transaction when it has one.
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

/** PostgreSQL aborted the transaction to break a deadlock, or a serializable conflict. */
export const DEADLOCK_SQLSTATES: ReadonlySet<string> = new Set(['40P01', '40001']);

export function hasSqlState(error: unknown, states: ReadonlySet<string>): boolean {
  if (!(error instanceof QueryFailedError)) return false;
  const code: unknown = (error.driverError as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && states.has(code);
}

/**
 * A READ COMMITTED transaction, retried a few times when it failed with one of
 * `retryOn` (by default: PostgreSQL broke a deadlock). The work must be safe to re-run.
 */
export async function inTransaction<T>(
  dataSource: DataSource,
  work: (manager: EntityManager) => Promise<T>,
  options: { attempts?: number; retryOn?: ReadonlySet<string> } = {},
): Promise<T> {
  const attempts = options.attempts ?? 3;
  const retryOn = options.retryOn ?? DEADLOCK_SQLSTATES;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await dataSource.transaction('READ COMMITTED', work);
    } catch (error) {
      if (attempt >= attempts || !hasSqlState(error, retryOn)) throw error;
    }
  }
}
