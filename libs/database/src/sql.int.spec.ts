/**
 * `inTransaction` against a real PostgreSQL: one statement opens a READ COMMITTED transaction
 * (whatever the connection's default isolation), work commits or rolls back as a whole,
 * nested `manager.transaction` is a savepoint, and deadlocks are retried while other errors
 * are not.
 */
import { createTestDatabase, type TestDatabase } from '@gureum/testing';
import { DataSource, QueryFailedError } from 'typeorm';
import { inTransaction, queryRows } from './sql';

describe('inTransaction', () => {
  let db: TestDatabase;
  let dataSource: DataSource;
  const sent: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('database_sql');
    // A default that is not READ COMMITTED: the transaction must set its own level.
    dataSource = new DataSource({ type: 'postgres', url: db.url, extra: { max: 4, options: '-c default_transaction_isolation=serializable' } });
    await dataSource.initialize();
    await dataSource.query(`CREATE TABLE "t" ("id" int PRIMARY KEY, "v" text NOT NULL)`);
    // Record what each query runner sends.
    const create = dataSource.createQueryRunner.bind(dataSource);
    dataSource.createQueryRunner = (...args) => {
      const runner = create(...args);
      const query = runner.query.bind(runner);
      runner.query = ((text: string, ...rest: unknown[]) => {
        sent.push(text);
        return (query as (...a: unknown[]) => Promise<unknown>)(text, ...rest);
      }) as typeof runner.query;
      return runner;
    };
  });

  afterAll(async () => {
    await dataSource?.destroy();
    await db?.drop();
  });

  beforeEach(async () => {
    await dataSource.query(`TRUNCATE "t"`);
    sent.length = 0;
  });

  it('opens READ COMMITTED with one statement and commits the work', async () => {
    const level = await inTransaction(dataSource, async (manager) => {
      await manager.query(`INSERT INTO "t" VALUES (1, 'a')`);
      const [row] = await queryRows<{ level: string }>(manager, `SELECT current_setting('transaction_isolation') AS "level"`);
      return row!.level;
    });
    expect(level).toBe('read committed');
    expect(sent[0]).toBe('BEGIN ISOLATION LEVEL READ COMMITTED');
    expect(sent.filter((text) => /^(START TRANSACTION|SET TRANSACTION)/i.test(text))).toEqual([]);
    expect(sent[sent.length - 1]).toBe('COMMIT');
    expect(await dataSource.query(`SELECT "v" FROM "t"`)).toEqual([{ v: 'a' }]);
  });

  it('rolls everything back when the work throws, and rethrows its error', async () => {
    const failure = new Error('work failed');
    await expect(
      inTransaction(dataSource, async (manager) => {
        await manager.query(`INSERT INTO "t" VALUES (1, 'a')`);
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(sent).toContain('ROLLBACK');
    expect(await dataSource.query(`SELECT count(*)::int AS "n" FROM "t"`)).toEqual([{ n: 0 }]);
  });

  it('makes a nested manager.transaction a savepoint of the same transaction', async () => {
    await inTransaction(dataSource, async (manager) => {
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
    expect(await dataSource.query(`SELECT "v" FROM "t" ORDER BY "id"`)).toEqual([{ v: 'outer' }, { v: 'after' }]);
  });

  it('re-runs the work after a deadlock, and not after any other database error', async () => {
    let runs = 0;
    const result = await inTransaction(dataSource, async (manager) => {
      runs += 1;
      await manager.query(`INSERT INTO "t" VALUES ($1, 'x')`, [runs]);
      if (runs === 1) await manager.query(`DO $$ BEGIN RAISE EXCEPTION 'simulated' USING ERRCODE = '40P01'; END $$`);
      return runs;
    });
    expect(result).toBe(2);
    // The first attempt's insert was rolled back with it.
    expect(await dataSource.query(`SELECT "id" FROM "t"`)).toEqual([{ id: 2 }]);

    runs = 0;
    await expect(
      inTransaction(dataSource, async (manager) => {
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
        dataSource,
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
      await inTransaction(dataSource, (manager) => manager.query(`SELECT 1`)).catch(() => undefined);
      await inTransaction(dataSource, async () => {
        throw new Error('x');
      }).catch(() => undefined);
    }
    // A pool of 4: a leaked connection per call would have blocked long before this.
    const rows = await inTransaction(dataSource, (manager) => queryRows<{ one: number }>(manager, `SELECT 1 AS "one"`));
    expect(rows).toEqual([{ one: 1 }]);
  });
});
