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
 *
 * Opened with one statement, `BEGIN ISOLATION LEVEL READ COMMITTED`, where TypeORM's
 * `dataSource.transaction(level, …)` sends two (`START TRANSACTION`, then
 * `SET TRANSACTION ISOLATION LEVEL …`): one round trip less on every transaction of every
 * service. The query runner is marked as inside a transaction, so `manager.transaction(…)`
 * nested in `work` still becomes a savepoint, as with TypeORM's own.
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
      return await readCommittedTransaction(dataSource, work);
    } catch (error) {
      if (attempt >= attempts || !hasSqlState(error, retryOn)) throw error;
    }
  }
}

/** TypeORM's transaction bookkeeping on a query runner (public fields, one of them `protected` in the typings). */
type TransactionFlags = { isTransactionActive: boolean; transactionDepth: number };

async function readCommittedTransaction<T>(dataSource: DataSource, work: (manager: EntityManager) => Promise<T>): Promise<T> {
  const runner = dataSource.createQueryRunner();
  const flags = runner as unknown as TransactionFlags;
  try {
    await runner.connect();
    await runner.query('BEGIN ISOLATION LEVEL READ COMMITTED');
    flags.isTransactionActive = true;
    flags.transactionDepth = 1;
    let result: T;
    try {
      result = await work(runner.manager);
    } catch (error) {
      // The transaction may already be aborted (or the connection gone): the rollback is best
      // effort, and the work's error is what the caller must see.
      await runner.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    // A failed COMMIT ends the transaction too (PostgreSQL rolls it back); its error propagates.
    await runner.query('COMMIT');
    return result;
  } finally {
    flags.isTransactionActive = false;
    flags.transactionDepth = 0;
    await runner.release();
  }
}
