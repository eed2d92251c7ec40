import { execFile } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { freePort } from './ports';
import { spawnProcess, type ManagedProcess } from './process';
import { waitFor } from './wait-for';

const run = promisify(execFile);
const PG_BIN = '/usr/lib/postgresql/15/bin';

/** A PostgreSQL server of one test file's own, which the test may stop and start (fault tests). */
export interface DedicatedPostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres`, for `createTestDatabase(label, adminUrl)`. */
  readonly adminUrl: string;
  readonly port: number;
  /** Fast shutdown (SIGINT to the postmaster: sessions are cut, as a crash or failover would). */
  stop(): Promise<void>;
  /** Starts it again on the same port and data; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops it and deletes its data. */
  destroy(): Promise<void>;
}

/**
 * Starts a throwaway PostgreSQL 15 (initdb into a temporary directory owned by user postgres,
 * trust auth, loopback only, fsync off). The shared test server of the jest global setup is
 * used by every file of a run and must never be stopped; a test that takes the database
 * away uses one of these. The server is a registered process (`spawnProcess`), so a
 * crashed test run's teardown reaps it.
 */
export async function startDedicatedPostgres(label: string, logDir?: string): Promise<DedicatedPostgres> {
  const home = mkdtempSync(path.join(os.tmpdir(), `gureum-pg-${label.replace(/[^a-z0-9-]/gi, '')}-`));
  const data = path.join(home, 'data');
  const sock = path.join(home, 'sock');
  mkdirSync(data, { mode: 0o700 });
  mkdirSync(sock);
  const { stdout } = await run('id', ['-u', 'postgres']);
  const uid = Number(stdout.trim());
  const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
  for (const dir of [home, data, sock]) chownSync(dir, uid, gid);
  await run('runuser', ['-u', 'postgres', '--', path.join(PG_BIN, 'initdb'), '-D', data, '--auth=trust', '-U', 'postgres', '--encoding=UTF8', '--locale=C.UTF-8'], { timeout: 120_000 });
  const port = await freePort();
  const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let server: ManagedProcess | null = null;

  const start = async (): Promise<void> => {
    server = await spawnProcess({
      name: `postgres-${label}`,
      command: 'runuser',
      args: ['-u', 'postgres', '--', path.join(PG_BIN, 'postgres'), '-D', data, '-p', String(port), '-k', sock, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'max_connections=200'],
      ...(logDir ? { logDir } : {}),
    });
    await waitFor(
      async () => {
        const client = new Client({ connectionString: adminUrl });
        try {
          await client.connect();
          await client.query('SELECT 1');
          return true;
        } catch {
          return undefined;
        } finally {
          await client.end().catch(() => undefined);
        }
      },
      { timeoutMs: 30_000, intervalMs: 100, what: `dedicated PostgreSQL on ${port}` },
    );
  };

  const stop = async (): Promise<void> => {
    const current = server;
    if (!current) return;
    server = null;
    // runuser would forward SIGTERM (a "smart" shutdown that waits for every session to end):
    // signal the postmaster itself for a fast one.
    const pid = Number(readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    if (Number.isInteger(pid) && pid > 0) process.kill(pid, 'SIGINT');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([current.exited, new Promise((resolve) => (timer = setTimeout(resolve, 20_000)))]);
    clearTimeout(timer);
    await current.stop('SIGKILL', 1000);
  };

  await start();
  return {
    adminUrl,
    port,
    start,
    stop,
    async destroy() {
      await stop().catch(() => undefined);
      rmSync(home, { recursive: true, force: true });
    },
  };
}
