/**
 * Heartbeat recording against a real PostgreSQL, two use-case instances standing in for two
 * scheduler replicas: unchanged heartbeats only move `last_heartbeat_at`, in a batch; every
 * change, a lost host's return, a decommissioned host and a row another replica rewrote take
 * the full, transactional path; a row someone holds is skipped and written at the next flush.
 */
import { randomUUID } from 'node:crypto';
import type { Heartbeat } from '@gureum/contracts';
import { createTestDatabase, waitFor, type TestDatabase } from '@gureum/testing';
import pino from 'pino';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import type { AfterCommit, CommittedChanges } from '../common/after-commit';
import type { SchedulerSettings } from '../common/tokens';
import { createSchedulerDataSource, migrateSchedulerDatabase } from '../database/scheduler-data-source';
import { DEFAULT_PLACEMENT_SETTINGS } from '../placement/placement';
import { HeartbeatReceipts } from './heartbeat-receipts';
import { RecordHeartbeatUseCase } from './record-heartbeat.usecase';

let database: TestDatabase;
let dataSource: DataSource;
let db: Client;
const committed: CommittedChanges[] = [];
const afterCommit = { run: (changes: CommittedChanges) => committed.push(changes) } as unknown as AfterCommit;
// A long interval: these tests flush by hand, the timer must not race them.
const settings = { heartbeatIntervalMs: 60_000, hostLostAfterMissed: 3, placement: DEFAULT_PLACEMENT_SETTINGS } as unknown as SchedulerSettings;
let replicaA: RecordHeartbeatUseCase;
let replicaB: RecordHeartbeatUseCase;

beforeAll(async () => {
  database = await createTestDatabase('scheduler_heartbeats');
  await migrateSchedulerDatabase(database.url);
  dataSource = createSchedulerDataSource(database.url, 4);
  await dataSource.initialize();
  db = new Client({ connectionString: database.url });
  await db.connect();
  const logger = pino({ level: 'silent' });
  replicaA = new RecordHeartbeatUseCase(dataSource, afterCommit, new HeartbeatReceipts(), logger, settings);
  replicaB = new RecordHeartbeatUseCase(dataSource, afterCommit, new HeartbeatReceipts(), logger, settings);
});

afterAll(async () => {
  await replicaA?.onModuleDestroy();
  await replicaB?.onModuleDestroy();
  await db?.end();
  await dataSource?.destroy();
  await database?.drop();
});

function heartbeat(nodeId: string, bootId: string, overrides: Partial<Heartbeat> = {}): Heartbeat {
  return {
    nodeId,
    bootId,
    sentAt: new Date().toISOString(),
    agentVersion: 'test',
    labels: { zone: 'a' },
    drivers: [{ driver: 'docker', healthy: true, detail: 'ok', capacity: { cpuMillis: 4000, memoryMiB: 8192, pids: 4096 }, images: ['gureum/x:1'] }],
    ...overrides,
  };
}

async function host(id: string) {
  const { rows } = await db.query(
    `SELECT "state", "labels", "boot_id", "capacity_cpu_millis", "last_heartbeat_at", "updated_at" FROM scheduler.hosts WHERE id = $1`,
    [id],
  );
  return rows[0] as { state: string; labels: Record<string, string>; boot_id: string; capacity_cpu_millis: number; last_heartbeat_at: Date; updated_at: Date } | undefined;
}

/** Moves the timestamp an hour back, so a later write is visible whatever the clock's resolution. */
async function age(id: string): Promise<Date> {
  const { rows } = await db.query(`UPDATE scheduler.hosts SET last_heartbeat_at = now() - interval '1 hour' WHERE id = $1 RETURNING last_heartbeat_at`, [id]);
  return rows[0].last_heartbeat_at as Date;
}

async function transitions(id: string): Promise<Array<{ from: string | null; to: string; reason: string }>> {
  const { rows } = await db.query(`SELECT payload FROM scheduler.outbox WHERE subject = 'evt.host.state.v1' AND payload->>'hostId' = $1 ORDER BY seq`, [id]);
  return rows.map((row: { payload: { from: string | null; to: string; reason: string } }) => ({ from: row.payload.from, to: row.payload.to, reason: row.payload.reason }));
}

it('registers a host on its first heartbeat, then writes only the timestamp of unchanged ones, in the batch', async () => {
  const boot = randomUUID();
  await replicaA.execute({ nodeId: 'hb-1', heartbeat: heartbeat('hb-1', boot) });
  expect(await host('hb-1')).toMatchObject({ state: 'ready', labels: { zone: 'a' }, boot_id: boot });
  expect(await transitions('hb-1')).toEqual([{ from: null, to: 'ready', reason: 'first heartbeat' }]);
  expect(committed.pop()).toEqual({ capacityFreed: true });

  const old = await age('hb-1');
  const before = await host('hb-1');
  const counts = { ...replicaA.counts };
  await replicaA.execute({ nodeId: 'hb-1', heartbeat: heartbeat('hb-1', boot) });
  await replicaA.flushTimestamps();
  // The row's hash matched what the full path returned: the flush vouched for it.
  expect(replicaA.counts).toEqual({ ...counts, timestampOnly: counts.timestampOnly + 1 });
  const after = await host('hb-1');
  expect(after!.last_heartbeat_at.getTime()).toBeGreaterThan(old.getTime());
  // Nothing else moved: no row content, no updated_at (the host index reads changes by it), no event.
  expect(after!.updated_at).toEqual(before!.updated_at);
  expect(await transitions('hb-1')).toHaveLength(1);
});

it('applies a change of labels, capacity or boot id at once, in full', async () => {
  const boot = randomUUID();
  await replicaA.execute({ nodeId: 'hb-2', heartbeat: heartbeat('hb-2', boot) });
  await replicaA.execute({ nodeId: 'hb-2', heartbeat: heartbeat('hb-2', boot, { labels: { zone: 'b' } }) });
  expect((await host('hb-2'))!.labels).toEqual({ zone: 'b' });
  await replicaA.execute({
    nodeId: 'hb-2',
    heartbeat: heartbeat('hb-2', boot, { labels: { zone: 'b' }, drivers: [{ driver: 'docker', healthy: true, detail: 'ok', capacity: { cpuMillis: 8000, memoryMiB: 8192, pids: 4096 }, images: ['gureum/x:1'] }] }),
  });
  expect((await host('hb-2'))!.capacity_cpu_millis).toBe(8000);
  const restarted = randomUUID();
  await replicaA.execute({ nodeId: 'hb-2', heartbeat: heartbeat('hb-2', restarted) });
  expect(await host('hb-2')).toMatchObject({ boot_id: restarted, labels: { zone: 'a' }, capacity_cpu_millis: 4000 });
});

it('brings a lost host back (to what it was before) when an unchanged heartbeat finds it lost', async () => {
  const boot = randomUUID();
  await replicaA.execute({ nodeId: 'hb-3', heartbeat: heartbeat('hb-3', boot) });
  await db.query(`UPDATE scheduler.hosts SET state = 'lost', state_before_lost = 'cordoned' WHERE id = 'hb-3'`);
  await replicaA.execute({ nodeId: 'hb-3', heartbeat: heartbeat('hb-3', boot) });
  await replicaA.flushTimestamps();
  await waitFor(async () => (await host('hb-3'))!.state === 'cordoned', { timeoutMs: 5000, intervalMs: 20, what: 'the lost host back as cordoned' });
  expect((await transitions('hb-3')).pop()).toEqual({ from: 'lost', to: 'cordoned', reason: 'heartbeat resumed' });
});

it('adopts an unreachable host (back to what it was) when an unchanged heartbeat finds it unreachable', async () => {
  const boot = randomUUID();
  await replicaA.execute({ nodeId: 'hb-3u', heartbeat: heartbeat('hb-3u', boot) });
  await db.query(`UPDATE scheduler.hosts SET state = 'unreachable', state_before_lost = 'draining', unreachable_since = now() WHERE id = 'hb-3u'`);
  // The timestamp-only path must not keep an unreachable row alive silently: it sends it back to the full path.
  await replicaA.execute({ nodeId: 'hb-3u', heartbeat: heartbeat('hb-3u', boot) });
  await replicaA.flushTimestamps();
  await waitFor(async () => (await host('hb-3u'))!.state === 'draining', { timeoutMs: 5000, intervalMs: 20, what: 'the unreachable host back as draining' });
  expect((await transitions('hb-3u')).pop()).toEqual({ from: 'unreachable', to: 'draining', reason: 'heartbeat resumed' });
});

it('keeps a decommissioned host retired', async () => {
  const boot = randomUUID();
  await replicaA.execute({ nodeId: 'hb-4', heartbeat: heartbeat('hb-4', boot) });
  await db.query(`UPDATE scheduler.hosts SET state = 'decommissioned' WHERE id = 'hb-4'`);
  const old = await age('hb-4');
  await replicaA.execute({ nodeId: 'hb-4', heartbeat: heartbeat('hb-4', boot) });
  await replicaA.flushTimestamps();
  // The full path it was sent to ignores it, as before.
  await replicaA.execute({ nodeId: 'hb-4', heartbeat: heartbeat('hb-4', boot) });
  await replicaA.flushTimestamps();
  expect(await host('hb-4')).toMatchObject({ state: 'decommissioned', last_heartbeat_at: old });
});

it('takes the full path when another replica rewrote the row since this one wrote it', async () => {
  const boot = randomUUID();
  await replicaA.execute({ nodeId: 'hb-5', heartbeat: heartbeat('hb-5', boot) });
  // The agent's labels changed and back again; the middle heartbeat went to replica B.
  await replicaB.execute({ nodeId: 'hb-5', heartbeat: heartbeat('hb-5', boot, { labels: { zone: 'c' } }) });
  expect((await host('hb-5'))!.labels).toEqual({ zone: 'c' });
  const sentBack = replicaA.counts.sentBackByFlush;
  await replicaA.execute({ nodeId: 'hb-5', heartbeat: heartbeat('hb-5', boot) });
  await replicaA.flushTimestamps();
  expect(replicaA.counts.sentBackByFlush).toBe(sentBack + 1);
  await waitFor(async () => (await host('hb-5'))!.labels['zone'] === 'a', { timeoutMs: 5000, intervalMs: 20, what: 'the row to carry what the agent reports now' });
});

it('skips a row another transaction holds, without waiting, and writes it at the next flush', async () => {
  const boot = randomUUID();
  await replicaA.execute({ nodeId: 'hb-6', heartbeat: heartbeat('hb-6', boot) });
  const old = await age('hb-6');
  const holder = new Client({ connectionString: database.url });
  await holder.connect();
  try {
    await holder.query('BEGIN');
    await holder.query(`SELECT 1 FROM scheduler.hosts WHERE id = 'hb-6' FOR UPDATE`);
    await replicaA.execute({ nodeId: 'hb-6', heartbeat: heartbeat('hb-6', boot) });
    await replicaA.flushTimestamps();
    expect((await host('hb-6'))!.last_heartbeat_at).toEqual(old);
    await holder.query('COMMIT');
  } finally {
    await holder.end();
  }
  await replicaA.flushTimestamps();
  expect((await host('hb-6'))!.last_heartbeat_at.getTime()).toBeGreaterThan(old.getTime());
});
