import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

export interface TestDatabase {
  /** Connection URL of the new database. */
  url: string;
  name: string;
  /** Drops the database, closing any connection still open to it. Idempotent. */
  drop(): Promise<void>;
}

/** Admin URL of the test PostgreSQL, from GUREUM_TEST_PG_URL (set by ci.sh or the Jest global setup). */
export function testPgAdminUrl(): string {
  const url = process.env['GUREUM_TEST_PG_URL'];
  if (!url) {
    throw new Error(
      'GUREUM_TEST_PG_URL is not set. Run the tests through deploy/local/ci.sh, or with a Jest ' +
        'config whose globalSetup is libs/testing/src/jest-global-setup.ts (jest.integration.config.js, ' +
        'jest.e2e.config.js), or start one with `bash deploy/local/lib.sh test-pg-start`.',
    );
  }
  return url;
}

/**
 * A fresh, empty database for one test file: `t_<label>_<random>`, on the shared test server
 * or on `adminUrl`'s (a `startDedicatedPostgres`). Call `drop()` in afterAll.
 */
export async function createTestDatabase(label: string, adminUrl: string = testPgAdminUrl()): Promise<TestDatabase> {
  const suffix = randomBytes(4).toString('hex');
  const clean = label.toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^_+|_+$/g, '');
  // PostgreSQL identifiers are at most 63 bytes: t_ + label + _ + 8 hex.
  const name = `t_${clean.slice(0, 63 - 3 - suffix.length) || 'db'}_${suffix}`;

  await withAdmin(adminUrl, (client) => client.query(`CREATE DATABASE ${quoteIdent(name)}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;

  let dropped = false;
  return {
    url: url.toString(),
    name,
    async drop() {
      if (dropped) return;
      await withAdmin(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`));
      dropped = true;
    },
  };
}

async function withAdmin<T>(adminUrl: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
