import { Client } from 'pg';
import { createTestDatabase, testPgAdminUrl } from './postgres';

async function query<T extends Record<string, unknown>>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

describe('createTestDatabase', () => {
  it('gives a usable database that drop() removes, even with a connection still open', async () => {
    const db = await createTestDatabase('Harness Self-Test!');
    expect(db.name).toMatch(/^t_harness_self_test_[0-9a-f]{8}$/);

    await query(db.url, 'CREATE TABLE item (id int PRIMARY KEY, name text NOT NULL)');
    await query(db.url, "INSERT INTO item VALUES (1, 'one')");
    expect(await query(db.url, 'SELECT current_database() AS db, name FROM item')).toEqual([{ db: db.name, name: 'one' }]);

    const lingering = new Client({ connectionString: db.url });
    await lingering.connect();
    lingering.on('error', () => undefined); // the forced drop terminates it
    await db.drop();
    await db.drop(); // idempotent

    const left = await query(testPgAdminUrl(), 'SELECT datname FROM pg_database WHERE datname = $1', [db.name]);
    expect(left).toEqual([]);
    await lingering.end().catch(() => undefined);
  });

  it('keeps databases of different test files apart', async () => {
    const [a, b] = await Promise.all([createTestDatabase('same'), createTestDatabase('same')]);
    try {
      expect(a.name).not.toBe(b.name);
      await query(a.url, 'CREATE TABLE only_in_a (x int)');
      const inB = await query(b.url, "SELECT to_regclass('only_in_a') AS t");
      expect(inB).toEqual([{ t: null }]);
    } finally {
      await Promise.all([a.drop(), b.drop()]);
    }
  });
});
