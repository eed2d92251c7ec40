/**
 * Disconnected is not dead (issue 21), against real PostgreSQL and NATS:
 * - a host silent past the heartbeat threshold but within the grace window is `unreachable`,
 *   its workloads `unknown` with their placement, claims and assignments unchanged, and it is
 *   adopted when it returns: nothing re-placed, states back from its agent's report;
 * - past the window it is `lost` and its restartable containers are re-placed elsewhere;
 * - the sweep judges silence on heartbeats received: a host this replica heard is never silent
 *   whatever its row says, and a replica that may have missed writing heartbeats (just
 *   started, or its database failed) judges nobody for a whole threshold.
 */
import { randomUUID } from 'node:crypto';
import type { Heartbeat, HostView, OperatorCaller } from '@gureum/contracts';
import { createTestDatabase, startNats, waitFor, type TestDatabase, type TestNats } from '@gureum/testing';
import pino from 'pino';
import type { DataSource } from 'typeorm';
import type { AfterCommit } from '../common/after-commit';
import type { SchedulerSettings } from '../common/tokens';
import { createSchedulerDataSource, migrateSchedulerDatabase } from '../database/scheduler-data-source';
import { DEFAULT_PLACEMENT_SETTINGS } from '../placement/placement';
import { FakeAgent, observedTask } from '../testing/fake-agent';
import { callerOf, startSchedulerUnderTest, type SchedulerUnderTest } from '../testing/scheduler-under-test';
import { HeartbeatReceipts } from './heartbeat-receipts';
import { MarkLostHostsUseCase } from './mark-lost-hosts.usecase';
import { RecordHeartbeatUseCase } from './record-heartbeat.usecase';

const HEARTBEAT_MS = 200;
const MISSED = 3;
const GRACE_MS = 2500;
const TENANT = randomUUID();
const IMAGE = 'gureum/busybox:latest';

let database: TestDatabase;
let nats: TestNats;
let scheduler: SchedulerUnderTest;
let silent: FakeAgent;
let other: FakeAgent;

const operator = (): OperatorCaller => ({ principalId: 'ops-1', role: 'operator', requestId: randomUUID() });
const host = (hostId: string): Promise<HostView> => scheduler.api.request('scheduler.cmd.host.get.v1', { caller: operator(), hostId });
const get = (workloadId: string) => scheduler.api.request('scheduler.cmd.workload.get.v1', { caller: callerOf(TENANT), workloadId });
const act = (hostId: string, action: 'cordon' | 'uncordon') => scheduler.api.request('scheduler.cmd.host.action.v1', { caller: operator(), hostId, action });
const create = (name: string) =>
  scheduler.api.request('scheduler.cmd.workload.create.v1', {
    caller: callerOf(TENANT),
    spec: { name, kind: 'container', image: IMAGE, resources: { cpuMillis: 100, memoryMiB: 16, pids: 8 } },
  });
const claimHost = async (workloadId: string) =>
  (await scheduler.db.query(`SELECT host_id FROM scheduler.claims WHERE workload_id = $1`, [workloadId])).rows.map((row) => row.host_id as string);
const workloadEvents = async (workloadId: string) =>
  (await scheduler.db.query(`SELECT from_state, to_state FROM scheduler.workload_events WHERE workload_id = $1 ORDER BY id`, [workloadId])).rows.map(
    (row) => `${String(row.from_state)}→${String(row.to_state)}`,
  );
const hostEvents = async (hostId: string) =>
  (await scheduler.db.query(`SELECT payload FROM scheduler.outbox WHERE subject = 'evt.host.state.v1' AND payload->>'hostId' = $1 ORDER BY seq`, [hostId])).rows.map(
    (row) => `${String(row.payload.from)}→${String(row.payload.to)}`,
  );

beforeAll(async () => {
  database = await createTestDatabase('scheduler_host_disconnect');
  nats = await startNats({ agents: ['silent', 'other'] });
  scheduler = await startSchedulerUnderTest({
    databaseUrl: database.url,
    natsUrl: nats.url,
    control: nats.control,
    heartbeatIntervalMs: HEARTBEAT_MS,
    hostLostAfterMissed: MISSED,
    disconnectGraceMs: GRACE_MS,
  });
  silent = await FakeAgent.connect({ natsUrl: nats.url, nodeId: 'silent', credentials: nats.agent('silent'), images: [IMAGE], capacity: { cpuMillis: 4000, memoryMiB: 4096, pids: 1024 } });
  other = await FakeAgent.connect({ natsUrl: nats.url, nodeId: 'other', credentials: nats.agent('other'), images: [IMAGE], capacity: { cpuMillis: 4000, memoryMiB: 4096, pids: 1024 } });
  silent.keepHeartbeating(HEARTBEAT_MS / 2);
  other.keepHeartbeating(HEARTBEAT_MS / 2);
  await waitFor(async () => (await host('silent')).state === 'ready' && (await host('other')).state === 'ready', { timeoutMs: 10_000, what: 'both hosts ready' });
});

afterAll(async () => {
  await silent?.close();
  await other?.close();
  await scheduler?.close();
  await nats?.stop();
  await database?.drop();
});

/** A running workload on host `silent` (the other host cordoned while it is placed). */
async function runningOnSilent(name: string) {
  await act('other', 'cordon');
  const workload = await create(name);
  await act('other', 'uncordon');
  expect(workload.hostId).toBe('silent');
  await silent.report([observedTask(workload.id, 0, 'running')]);
  expect((await get(workload.id)).state).toBe('running');
  return workload;
}

it('keeps a silent host\'s workloads in place as unknown within the grace window, and adopts the host untouched when it returns', async () => {
  const workload = await runningOnSilent('adopted');
  const assignmentsBefore = await silent.assignments();

  silent.stopHeartbeating();
  await waitFor(async () => (await host('silent')).state === 'unreachable', { timeoutMs: 5000, intervalMs: 50, what: 'silent unreachable' });
  await waitFor(async () => (await get(workload.id)).state === 'unknown', { timeoutMs: 5000, intervalMs: 50, what: 'its workload unknown' });
  expect(await get(workload.id)).toMatchObject({ state: 'unknown', hostId: 'silent', reason: 'host_unreachable' });
  expect(await claimHost(workload.id)).toEqual(['silent']);
  // What the agent would get if it asked now: exactly what it had.
  expect(await silent.assignments()).toEqual(assignmentsBefore);
  // Several sweeps later, still inside the window, nothing has moved.
  await new Promise((resolve) => setTimeout(resolve, HEARTBEAT_MS * 4));
  expect(await get(workload.id)).toMatchObject({ state: 'unknown', hostId: 'silent' });

  silent.keepHeartbeating(HEARTBEAT_MS / 2);
  await waitFor(async () => (await host('silent')).state === 'ready', { timeoutMs: 5000, what: 'silent back' });
  expect(await silent.assignments()).toEqual(assignmentsBefore);
  // Its agent's report says what the workload is.
  expect(await silent.report([observedTask(workload.id, 0, 'running')])).toEqual({ applied: 1 });
  expect(await get(workload.id)).toMatchObject({ state: 'running', hostId: 'silent', reason: null });
  expect(await workloadEvents(workload.id)).toEqual(['null→scheduled', 'scheduled→running', 'running→unknown', 'unknown→running']);
  expect(await hostEvents('silent')).toEqual(['null→ready', 'ready→unreachable', 'unreachable→ready']);
});

it('declares the host lost only after the grace window, and re-places its restartable containers then', async () => {
  const workload = await runningOnSilent('replaced');
  silent.stopHeartbeating();
  const silentSince = Date.now();
  await waitFor(async () => (await host('silent')).state === 'unreachable', { timeoutMs: 5000, intervalMs: 50, what: 'silent unreachable' });
  await waitFor(async () => (await host('silent')).state === 'lost', { timeoutMs: GRACE_MS + 5000, intervalMs: 50, what: 'silent lost' });
  expect(Date.now() - silentSince).toBeGreaterThanOrEqual(HEARTBEAT_MS * MISSED + GRACE_MS - HEARTBEAT_MS);
  await waitFor(async () => (await get(workload.id)).hostId === 'other', { timeoutMs: 5000, what: 'the workload re-placed on other' });
  expect(await claimHost(workload.id)).toEqual(['other']);
  expect(await workloadEvents(workload.id)).toEqual(['null→scheduled', 'scheduled→running', 'running→unknown', 'unknown→lost', 'lost→pending', 'pending→scheduled']);
  // The returning host is no longer assigned it.
  silent.keepHeartbeating(HEARTBEAT_MS / 2);
  await waitFor(async () => (await host('silent')).state === 'ready', { timeoutMs: 5000, what: 'silent back' });
  expect((await silent.assignments()).assignments.map((a) => a.workloadId)).not.toContain(workload.id);
});

describe('the sweep judges silence on heartbeats received', () => {
  let sweepDatabase: TestDatabase;
  let dataSource: DataSource;
  const afterCommit = { run: () => undefined } as unknown as AfterCommit;
  const settings = { heartbeatIntervalMs: 1000, hostLostAfterMissed: 3, disconnectGraceMs: 60_000, placement: DEFAULT_PLACEMENT_SETTINGS } as unknown as SchedulerSettings;
  const logger = pino({ level: 'silent' });
  let clock = 0;

  beforeAll(async () => {
    sweepDatabase = await createTestDatabase('scheduler_sweep_receipts');
    await migrateSchedulerDatabase(sweepDatabase.url);
    dataSource = createSchedulerDataSource(sweepDatabase.url, 2);
    await dataSource.initialize();
  });

  afterAll(async () => {
    await dataSource?.destroy();
    await sweepDatabase?.drop();
  });

  async function hostWhoseRowIsAnHourOld(nodeId: string): Promise<void> {
    const writer = new RecordHeartbeatUseCase(dataSource, afterCommit, new HeartbeatReceipts(), logger, settings);
    const heartbeat: Heartbeat = {
      nodeId,
      bootId: randomUUID(),
      sentAt: new Date().toISOString(),
      agentVersion: 'test',
      labels: {},
      drivers: [{ driver: 'docker', healthy: true, detail: 'ok', capacity: { cpuMillis: 1000, memoryMiB: 1024, pids: 100 }, images: [] }],
    };
    await writer.execute({ nodeId, heartbeat });
    await writer.onModuleDestroy();
    // As if every later timestamp write had failed (the database was down meanwhile).
    await dataSource.query(`UPDATE scheduler.hosts SET last_heartbeat_at = now() - interval '1 hour' WHERE id = $1`, [nodeId]);
  }
  const stateOf = async (nodeId: string) => ((await dataSource.query(`SELECT state FROM scheduler.hosts WHERE id = $1`, [nodeId])) as Array<{ state: string }>)[0]?.state;

  it('judges nobody until a whole threshold has passed since the replica started or its database failed', async () => {
    await hostWhoseRowIsAnHourOld('blind-1');
    const receipts = new HeartbeatReceipts(() => clock);
    const sweep = new MarkLostHostsUseCase(dataSource, afterCommit, receipts, settings, logger);
    expect(await sweep.execute()).toMatchObject({ abstained: 'recently_blind', unreachableHostIds: [] });
    expect(await stateOf('blind-1')).toBe('ready');

    clock += 3000;
    receipts.databaseFailed();
    clock += 2999;
    expect(await sweep.execute()).toMatchObject({ abstained: 'recently_blind' });
    expect(await stateOf('blind-1')).toBe('ready');

    clock += 1;
    expect((await sweep.execute()).unreachableHostIds).toEqual(['blind-1']);
    expect(await stateOf('blind-1')).toBe('unreachable');
  });

  it('never takes a host it heard within the threshold for silent, whatever its row says', async () => {
    await hostWhoseRowIsAnHourOld('heard-1');
    await hostWhoseRowIsAnHourOld('unheard-1');
    const receipts = new HeartbeatReceipts(() => clock);
    const sweep = new MarkLostHostsUseCase(dataSource, afterCommit, receipts, settings, logger);
    clock += 10_000;
    receipts.heard('heard-1');
    clock += 2000;
    const result = await sweep.execute();
    expect(result.unreachableHostIds).toEqual(['unheard-1']);
    expect(await stateOf('heard-1')).toBe('ready');
    // Once its receipt is older than the threshold, the row is all there is to go by.
    clock += 1001;
    expect((await sweep.execute()).unreachableHostIds).toEqual(['heard-1']);
  });
});
