/**
 * `inTransaction` against a real PostgreSQL: one statement opens a READ COMMITTED transaction
 * (whatever the connection's default isolation), work commits or rolls back as a whole,
 * nested `manager.transaction` is a savepoint, and deadlocks are retried while other errors
 * are not. `inQueuedTransaction` the same, with BEGIN and COMMIT sent without waiting for the
 * statement before them.
 */
import { createTestDatabase, type TestDatabase } from '@gureum/testing';
import type { PoolClient } from 'pg';
import { DataSource, QueryFailedError, type QueryRunner } from 'typeorm';
import { inQueuedTransaction, inTransaction, queryRows } from './sql';

/**
 * A scratch database for one describe: table "t", emptied before each test (and `reset` run),
 * and a pool of 4 whose default isolation is not READ COMMITTED — the transaction must set its
 * own level. `spy` sees every query runner the DataSource creates.
 */
function scratchDatabase(name: string, spy: (runner: QueryRunner) => void, reset: () => void): { readonly dataSource: DataSource } {
  let db: TestDatabase | undefined;
  let dataSource: DataSource | undefined;
  beforeAll(async () => {
    db = await createTestDatabase(name);
    dataSource = new DataSource({ type: 'postgres', url: db.url, extra: { max: 4, options: '-c default_transaction_isolation=serializable' } });
    await dataSource.initialize();
    await dataSource.query(`CREATE TABLE "t" ("id" int PRIMARY KEY, "v" text NOT NULL)`);
    const create = dataSource.createQueryRunner.bind(dataSource);
    dataSource.createQueryRunner = (...args) => {
      const runner = create(...args);
      spy(runner);
      return runner;
    };
  });
  afterAll(async () => {
    await dataSource?.destroy();
    await db?.drop();
  });
  beforeEach(async () => {
    await dataSource!.query(`TRUNCATE "t"`);
    reset();
  });
  return {
    get dataSource(): DataSource {
      if (!dataSource) throw new Error('scratchDatabase: used outside a test');
      return dataSource;
    },
  };
}

describe('inTransaction', () => {
  const sent: string[] = [];
  // Records what each query runner sends.
  const scratch = scratchDatabase(
    'database_sql',
    (runner) => {
      const query = runner.query.bind(runner);
      runner.query = ((text: string, ...rest: unknown[]) => {
        sent.push(text);
        return (query as (...a: unknown[]) => Promise<unknown>)(text, ...rest);
      }) as typeof runner.query;
    },
    () => (sent.length = 0),
  );

  it('opens READ COMMITTED with one statement and commits the work', async () => {
    const level = await inTransaction(scratch.dataSource, async (manager) => {
      await manager.query(`INSERT INTO "t" VALUES (1, 'a')`);
      const [row] = await queryRows<{ level: string }>(manager, `SELECT current_setting('transaction_isolation') AS "level"`);
      return row!.level;
    });
    expect(level).toBe('read committed');
    expect(sent[0]).toBe('BEGIN ISOLATION LEVEL READ COMMITTED');
    expect(sent.filter((text) => /^(START TRANSACTION|SET TRANSACTION)/i.test(text))).toEqual([]);
    expect(sent[sent.length - 1]).toBe('COMMIT');
    expect(await scratch.dataSource.query(`SELECT "v" FROM "t"`)).toEqual([{ v: 'a' }]);
  });

  it('rolls everything back when the work throws, and rethrows its error', async () => {
    const failure = new Error('work failed');
    await expect(
      inTransaction(scratch.dataSource, async (manager) => {
        await manager.query(`INSERT INTO "t" VALUES (1, 'a')`);
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(sent).toContain('ROLLBACK');
    expect(await scratch.dataSource.query(`SELECT count(*)::int AS "n" FROM "t"`)).toEqual([{ n: 0 }]);
  });

  it('makes a nested manager.transaction a savepoint of the same transaction', async () => {
    await inTransaction(scratch.dataSource, async (manager) => {
      await manager.query(`INSERT INTO "t" VALUES (1, 'outer')`);
      await expect(
        manager.transaction(async (inner) => {
          await inner.query(`INSERT INTO "t" VALUES (2, 'inner')`);
          throw new Error('inner failed');
        }),
      ).rejects.toThrow('inner failed');
      // Entity-manager writes see an active transaction and do not open their own.
      await manager.query(`INSERT INTO "t" VALUES (3, 'after')`);
    });
    expect(sent.filter((text) => /SAVEPOINT/.test(text))).toEqual(['SAVEPOINT typeorm_1', 'ROLLBACK TO SAVEPOINT typeorm_1']);
    expect(await scratch.dataSource.query(`SELECT "v" FROM "t" ORDER BY "id"`)).toEqual([{ v: 'outer' }, { v: 'after' }]);
  });

  it('re-runs the work after a deadlock, and not after any other database error', async () => {
    let runs = 0;
    const result = await inTransaction(scratch.dataSource, async (manager) => {
      runs += 1;
      await manager.query(`INSERT INTO "t" VALUES ($1, 'x')`, [runs]);
      if (runs === 1) await manager.query(`DO $$ BEGIN RAISE EXCEPTION 'simulated' USING ERRCODE = '40P01'; END $$`);
      return runs;
    });
    expect(result).toBe(2);
    // The first attempt's insert was rolled back with it.
    expect(await scratch.dataSource.query(`SELECT "id" FROM "t"`)).toEqual([{ id: 2 }]);

    runs = 0;
    await expect(
      inTransaction(scratch.dataSource, async (manager) => {
        runs += 1;
        await manager.query(`INSERT INTO "t" VALUES (2, 'duplicate')`);
      }),
    ).rejects.toBeInstanceOf(QueryFailedError);
    expect(runs).toBe(1);
  });

  it('gives up after the last attempt', async () => {
    let runs = 0;
    await expect(
      inTransaction(
        scratch.dataSource,
        async (manager) => {
          runs += 1;
          await manager.query(`DO $$ BEGIN RAISE EXCEPTION 'simulated' USING ERRCODE = '40P01'; END $$`);
        },
        { attempts: 2 },
      ),
    ).rejects.toBeInstanceOf(QueryFailedError);
    expect(runs).toBe(2);
  });

  it('returns the connection to the pool every time', async () => {
    for (let i = 0; i < 10; i += 1) {
      await inTransaction(scratch.dataSource, (manager) => manager.query(`SELECT 1`)).catch(() => undefined);
      await inTransaction(scratch.dataSource, async () => {
        throw new Error('x');
      }).catch(() => undefined);
    }
    // A pool of 4: a leaked connection per call would have blocked long before this.
    const rows = await inTransaction(scratch.dataSource, (manager) => queryRows<{ one: number }>(manager, `SELECT 1 AS "one"`));
    expect(rows).toEqual([{ one: 1 }]);
  });
});

describe('inQueuedTransaction', () => {
  /** What the connections saw, in order: `sent <text>` when handed to node-pg, `done <text>` when answered. */
  const wire: string[] = [];
  const SIMULATED_DEADLOCK = `DO $$ BEGIN RAISE EXCEPTION 'simulated' USING ERRCODE = '40P01'; END $$`;
  /** Every pooled connection a transaction used. */
  const clients: Array<PoolClient & { pipeline?: boolean }> = [];
  const spied = new WeakSet<PoolClient>();
  const scratch = scratchDatabase(
    'database_queued_tx',
    (runner) => {
      const connect = runner.connect.bind(runner);
      runner.connect = async () => {
        const client = (await connect()) as PoolClient;
        if (!spied.has(client)) {
          spied.add(client);
          clients.push(client);
          const query = client.query.bind(client) as (text: string, values?: unknown[]) => Promise<unknown>;
          (client as unknown as { query: typeof query }).query = (text, values) => {
            wire.push(`sent ${text}`);
            return query(text, values).finally(() => wire.push(`done ${text}`));
          };
        }
        return client;
      };
    },
    () => (wire.length = 0),
  );

  it('sends BEGIN with the first statement and COMMIT with the last, and commits READ COMMITTED', async () => {
    const level = await inQueuedTransaction(scratch.dataSource, async (tx) => {
      const [row] = await tx.query<{ level: string }>(`SELECT current_setting('transaction_isolation') AS "level"`);
      const inserted = await tx.commitWith<{ id: number }>(`INSERT INTO "t" VALUES ($1, 'a') RETURNING "id"`, [1]);
      expect(inserted).toEqual([{ id: 1 }]);
      return row!.level;
    });
    expect(level).toBe('read committed');
    // Neither statement waited for the one before it to be answered.
    expect(wire).toEqual([
      'sent BEGIN ISOLATION LEVEL READ COMMITTED',
      `sent SELECT current_setting('transaction_isolation') AS "level"`,
      'done BEGIN ISOLATION LEVEL READ COMMITTED',
      `done SELECT current_setting('transaction_isolation') AS "level"`,
      `sent INSERT INTO "t" VALUES ($1, 'a') RETURNING "id"`,
      'sent COMMIT',
      `done INSERT INTO "t" VALUES ($1, 'a') RETURNING "id"`,
      'done COMMIT',
    ]);
    expect(await scratch.dataSource.query(`SELECT "v" FROM "t"`)).toEqual([{ v: 'a' }]);
  });

  it('commits by itself when the work does not call commitWith', async () => {
    await inQueuedTransaction(scratch.dataSource, async (tx) => {
      await tx.query(`INSERT INTO "t" VALUES (1, 'a')`);
    });
    expect(wire[wire.length - 2]).toBe('sent COMMIT');
    expect(await scratch.dataSource.query(`SELECT "v" FROM "t"`)).toEqual([{ v: 'a' }]);
  });

  it('sends nothing for work without statements', async () => {
    expect(await inQueuedTransaction(scratch.dataSource, async () => 7)).toBe(7);
    expect(wire).toEqual([]);
  });

  it('a failing last statement: the queued COMMIT rolls back, nothing of the transaction stays, its error is thrown', async () => {
    await scratch.dataSource.query(`INSERT INTO "t" VALUES (2, 'there')`);
    const error = await inQueuedTransaction(scratch.dataSource, async (tx) => {
      await tx.query(`INSERT INTO "t" VALUES (1, 'first')`);
      await tx.commitWith(`INSERT INTO "t" VALUES (2, 'duplicate')`);
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueryFailedError);
    expect((error as QueryFailedError).driverError).toMatchObject({ code: '23505' });
    expect(wire).toContain('sent COMMIT');
    expect(await scratch.dataSource.query(`SELECT "id" FROM "t" ORDER BY "id"`)).toEqual([{ id: 2 }]);
  });

  it('rolls back when the work throws, and refuses a statement after commitWith', async () => {
    const failure = new Error('work failed');
    await expect(
      inQueuedTransaction(scratch.dataSource, async (tx) => {
        await tx.query(`INSERT INTO "t" VALUES (1, 'a')`);
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(wire).toContain('sent ROLLBACK');
    await expect(
      inQueuedTransaction(scratch.dataSource, async (tx) => {
        await tx.commitWith(`INSERT INTO "t" VALUES (2, 'b')`);
        await tx.query(`INSERT INTO "t" VALUES (3, 'c')`);
      }),
    ).rejects.toThrow('a statement after the transaction was committed');
    // What commitWith committed stays; nothing else.
    expect(await scratch.dataSource.query(`SELECT "id" FROM "t" ORDER BY "id"`)).toEqual([{ id: 2 }]);
  });

  it('re-runs the work after a deadlock (in any statement), and not after any other database error', async () => {
    let runs = 0;
    const result = await inQueuedTransaction(scratch.dataSource, async (tx) => {
      runs += 1;
      await tx.query(`INSERT INTO "t" VALUES ($1, 'x')`, [runs]);
      await tx.commitWith(runs === 1 ? SIMULATED_DEADLOCK : `SELECT 1`);
      return runs;
    });
    expect(result).toBe(2);
    expect(await scratch.dataSource.query(`SELECT "id" FROM "t"`)).toEqual([{ id: 2 }]);

    runs = 0;
    await expect(
      inQueuedTransaction(scratch.dataSource, async (tx) => {
        runs += 1;
        await tx.query(`INSERT INTO "t" VALUES (2, 'duplicate')`);
      }),
    ).rejects.toBeInstanceOf(QueryFailedError);
    expect(runs).toBe(1);
    runs = 0;
    await expect(
      inQueuedTransaction(
        scratch.dataSource,
        async (tx) => {
          runs += 1;
          await tx.query(SIMULATED_DEADLOCK);
        },
        { attempts: 2 },
      ),
    ).rejects.toBeInstanceOf(QueryFailedError);
    expect(runs).toBe(2);
  });

  it('returns the connection to the pool every time, also after a failed statement', async () => {
    for (let i = 0; i < 10; i += 1) {
      await inQueuedTransaction(scratch.dataSource, (tx) => tx.commitWith(`SELECT 1`)).catch(() => undefined);
      await inQueuedTransaction(scratch.dataSource, (tx) => tx.commitWith(`SELECT nope`)).catch(() => undefined);
      await inQueuedTransaction(scratch.dataSource, async (tx) => {
        await tx.query(`SELECT nope`);
      }).catch(() => undefined);
    }
    // A pool of 4: a leaked connection, or one left inside a transaction, would show here.
    const rows = await inQueuedTransaction(scratch.dataSource, (tx) => tx.commitWith<{ level: string }>(`SELECT current_setting('transaction_isolation') AS "level"`));
    expect(rows).toEqual([{ level: 'read committed' }]);
    const [{ open }] = (await scratch.dataSource.query(`SELECT count(*)::int AS "open" FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'`)) as Array<{ open: number }>;
    expect(open).toBe(0);
    // Back in the pool as they came out: not in pipeline mode (which refuses streams and COPY).
    expect(clients.length).toBeGreaterThan(0);
    expect(clients.map((client) => client.pipeline ?? false)).toEqual(clients.map(() => false));
  });
});
