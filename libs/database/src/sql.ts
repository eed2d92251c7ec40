import { QueryFailedError, type DataSource, type EntityManager, type QueryRunner } from 'typeorm';
import type { PoolClient, QueryResult } from 'pg';

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
export function inTransaction<T>(dataSource: DataSource, work: (manager: EntityManager) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  return retried(() => readCommittedTransaction(dataSource, work), options);
}

/** How often a transaction is tried, and on which SQLSTATEs it is tried again. */
export interface RetryOptions {
  /** Tries in all (default 3). */
  attempts?: number;
  /** Default: `DEADLOCK_SQLSTATES`. */
  retryOn?: ReadonlySet<string>;
}

async function retried<T>(run: () => Promise<T>, options: RetryOptions): Promise<T> {
  const attempts = options.attempts ?? 3;
  const retryOn = options.retryOn ?? DEADLOCK_SQLSTATES;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await run();
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

/** A transaction whose BEGIN and COMMIT ride with its first and last statements (`inQueuedTransaction`). */
export interface QueuedTransaction {
  /** A statement of the transaction; the first one is sent right behind BEGIN. Rows as `queryRows`. */
  query<Row>(text: string, params?: readonly unknown[]): Promise<Row[]>;
  /**
   * The transaction's last statement, with COMMIT sent right behind it: resolves with its rows
   * once both succeeded. If the statement fails, the COMMIT already on its way ends the aborted
   * transaction (PostgreSQL answers it with ROLLBACK) and the statement's error is thrown.
   * Nothing may run in the transaction after it.
   */
  commitWith<Row>(text: string, params?: readonly unknown[]): Promise<Row[]>;
}

/**
 * A READ COMMITTED transaction like `inTransaction`, in fewer round trips: BEGIN is sent
 * together with the first statement and COMMIT together with the last (`commitWith`; if the
 * work never calls it, a COMMIT of its own follows), so the service waits for PostgreSQL — and
 * then for its own event loop, busy with other requests, often for milliseconds — once per pair
 * instead of once per statement. For the create batch (lock, then write) that is two waits
 * instead of four. The connection is in node-pg's pipeline mode for the transaction (each
 * statement written at once, with its own Sync; PostgreSQL runs them in order); on a node-pg
 * without it, the statements queue on the connection and node-pg sends each from its socket
 * handler the moment the one before is answered — the same order and outcome, one wire round
 * trip more. A statement that fails aborts the transaction: what was sent behind it fails too
 * or, for COMMIT, is answered with ROLLBACK.
 *
 * The work gets raw statements only (no EntityManager): it is for hot paths of a few
 * statements. Errors are TypeORM's `QueryFailedError`, as everywhere else; a deadlock
 * (`retryOn`) re-runs the whole work, which must be safe to re-run.
 */
export function inQueuedTransaction<T>(dataSource: DataSource, work: (tx: QueuedTransaction) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  return retried(() => queuedTransaction(dataSource, work), options);
}

async function queuedTransaction<T>(dataSource: DataSource, work: (tx: QueuedTransaction) => Promise<T>): Promise<T> {
  const runner = dataSource.createQueryRunner();
  /** Every statement sent: all are answered before the connection leaves pipeline mode and goes back to the pool. */
  const sent: Array<Promise<unknown>> = [];
  let client: (PoolClient & { pipeline?: boolean }) | null = null;
  try {
    client = (await runner.connect()) as PoolClient;
    client.pipeline = true;
    const connection = client;
    let begun: Promise<unknown> | null = null;
    /** COMMIT was sent (by commitWith): nothing more may run. */
    let ended = false;
    const send = (text: string, params: readonly unknown[]): Promise<QueryResult> => {
      const result = connection.query(text, [...params]).catch((error: unknown) => {
        throw new QueryFailedError(text, [...params], error instanceof Error ? error : new Error(String(error)));
      });
      sent.push(result.catch(() => undefined));
      return result;
    };
    const begin = (): Promise<unknown> => (begun ??= send('BEGIN ISOLATION LEVEL READ COMMITTED', []));
    const ensureOpen = (): void => {
      if (ended) throw new Error('inQueuedTransaction: a statement after the transaction was committed');
    };
    const tx: QueuedTransaction = {
      async query<Row>(text: string, params: readonly unknown[] = []): Promise<Row[]> {
        ensureOpen();
        const [, result] = await Promise.all([begin(), send(text, params)]);
        return result.rows as Row[];
      },
      async commitWith<Row>(text: string, params: readonly unknown[] = []): Promise<Row[]> {
        ensureOpen();
        ended = true;
        const [opened, statement, commit] = await Promise.allSettled([begin(), send(text, params), send('COMMIT', [])]);
        if (opened.status === 'rejected') throw opened.reason;
        if (statement.status === 'rejected') throw statement.reason;
        if (commit.status === 'rejected') throw commit.reason;
        assertCommitted(commit.value);
        return statement.value.rows as Row[];
      },
    };
    let result: T;
    try {
      result = await work(tx);
    } catch (error) {
      // Still open: roll back (best effort, the connection may be gone); the work's error is what counts.
      if (begun && !ended) await send('ROLLBACK', []).catch(() => undefined);
      throw error;
    }
    if (begun && !ended) assertCommitted(await send('COMMIT', []));
    return result;
  } finally {
    await Promise.all(sent);
    if (client) client.pipeline = false;
    await runner.release();
  }
}

/** PostgreSQL answers COMMIT of an aborted transaction with ROLLBACK, not an error. */
function assertCommitted(result: QueryResult): void {
  if (result.command !== 'COMMIT') throw new Error(`inQueuedTransaction: COMMIT was answered with ${result.command}: the transaction was rolled back`);
}
