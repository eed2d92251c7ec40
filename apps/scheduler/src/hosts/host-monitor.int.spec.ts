import { randomUUID } from 'node:crypto';
import type { WorkloadView } from '@gureum/contracts';
import { createTestDatabase, startNats, waitFor, type TestDatabase, type TestNats } from '@gureum/testing';
import { FakeAgent, observedTask } from '../testing/fake-agent';
import { callerOf, startSchedulerUnderTest, type SchedulerUnderTest } from '../testing/scheduler-under-test';

const HEARTBEAT_MS = 200;
const MISSED = 3;
const TENANT = randomUUID();

let database: TestDatabase;
let nats: TestNats;
let scheduler: SchedulerUnderTest;
let steady: FakeAgent;
let flaky: FakeAgent;

const hostState = async (id: string) => (await scheduler.db.query(`SELECT state FROM scheduler.hosts WHERE id = $1`, [id])).rows[0]?.state as string | undefined;
const get = (workloadId: string) => scheduler.api.request('scheduler.cmd.workload.get.v1', { caller: callerOf(TENANT), workloadId });
const create = (name: string, image: string) =>
  scheduler.api.request('scheduler.cmd.workload.create.v1', {
    caller: callerOf(TENANT),
    spec: { name, kind: 'container', image, resources: { cpuMillis: 100, memoryMiB: 16, pids: 8 } },
  });

beforeAll(async () => {
  database = await createTestDatabase('scheduler_host_monitor');
  nats = await startNats({ agents: ['steady', 'flaky'] });
  scheduler = await startSchedulerUnderTest({ databaseUrl: database.url, natsUrl: nats.url, control: nats.control, heartbeatIntervalMs: HEARTBEAT_MS, hostLostAfterMissed: MISSED });
  steady = await FakeAgent.connect({ natsUrl: nats.url, nodeId: 'steady', credentials: nats.agent('steady'), images: ['gureum/steady:1'] });
  flaky = await FakeAgent.connect({ natsUrl: nats.url, nodeId: 'flaky', credentials: nats.agent('flaky'), images: ['gureum/flaky:1'] });
  steady.keepHeartbeating(HEARTBEAT_MS / 2);
  flaky.keepHeartbeating(HEARTBEAT_MS / 2);
  await waitFor(async () => (await hostState('steady')) === 'ready' && (await hostState('flaky')) === 'ready', { timeoutMs: 5000, what: 'both hosts ready' });
});

afterAll(async () => {
  await steady?.close();
  await flaky?.close();
  await scheduler?.close();
  await nats?.stop();
  await database?.drop();
});

it('declares a silent host lost with its workloads, keeps the others, and believes the host again when it returns', async () => {
  const running = await create('on-flaky', 'gureum/flaky:1');
  const stopped = await create('stopped-on-flaky', 'gureum/flaky:1');
  const deleting = await create('deleting-on-flaky', 'gureum/flaky:1');
  const safe = await create('on-steady', 'gureum/steady:1');
  expect([running.hostId, stopped.hostId, deleting.hostId, safe.hostId]).toEqual(['flaky', 'flaky', 'flaky', 'steady']);
  await flaky.report([observedTask(running.id, 0, 'running'), observedTask(deleting.id, 0, 'running')]);
  await scheduler.api.request('scheduler.cmd.workload.stop.v1', { caller: callerOf(TENANT), workloadId: stopped.id });
  await flaky.report([observedTask(stopped.id, 0, 'exited', { exitCode: 0 })]);
  await scheduler.api.request('scheduler.cmd.workload.delete.v1', { caller: callerOf(TENANT), workloadId: deleting.id });
  expect((await get(deleting.id)).state).toBe('stopping');
  await steady.report([observedTask(safe.id, 0, 'running')]);

  flaky.stopHeartbeating();
  const silentSince = Date.now();
  await waitFor(async () => (await hostState('flaky')) === 'lost', { timeoutMs: 5000, intervalMs: 50, what: 'flaky to be declared lost' });
  // Not before the configured silence (interval × missed) has passed.
  expect(Date.now() - silentSince).toBeGreaterThanOrEqual(HEARTBEAT_MS * MISSED - HEARTBEAT_MS);

  // Restartable: given back to placement; only flaky has its image, so it waits.
  await waitFor(async () => (await get(running.id)).state === 'pending', { timeoutMs: 5000, what: 'the lost workload to be pending' });
  expect(await get(running.id)).toMatchObject({ state: 'pending', hostId: null });
  // A stopped workload had nothing running there to lose.
  expect((await get(stopped.id)).state).toBe('stopped');
  // A delete that waited for the lost host is finished, and its claim released.
  expect((await get(deleting.id)).state).toBe('deleted');
  expect((await scheduler.db.query(`SELECT 1 FROM scheduler.claims WHERE workload_id = $1`, [deleting.id])).rowCount).toBe(0);
  expect(await hostState('steady')).toBe('ready');
  expect((await get(safe.id)).state).toBe('running');

  // The host returns: ready again, the pending workload is placed there anew and runs.
  flaky.keepHeartbeating(HEARTBEAT_MS / 2);
  await waitFor(async () => (await hostState('flaky')) === 'ready', { timeoutMs: 5000, what: 'flaky to be ready again' });
  await waitFor(async () => (await get(running.id)).state === 'scheduled', { timeoutMs: 5000, what: 'the workload placed again' });
  const assignments = (await flaky.assignments()).assignments.map((a) => a.workloadId).sort();
  expect(assignments).toEqual([running.id, stopped.id].sort());
  expect(await flaky.report([observedTask(running.id, 0, 'running')])).toEqual({ applied: 1 });
  const back: WorkloadView = await get(running.id);
  expect(back).toMatchObject({ state: 'running', reason: null, hostId: 'flaky' });

  const { rows } = await scheduler.db.query(`SELECT from_state, to_state, reason FROM scheduler.workload_events WHERE workload_id = $1 ORDER BY id`, [running.id]);
  expect(rows.map((row) => `${row.from_state}→${row.to_state}`)).toEqual([
    'null→scheduled',
    'scheduled→running',
    // Silent: unknown, kept in place; lost at the end of the grace window (0 here), then re-placed.
    'running→unknown',
    'unknown→lost',
    'lost→pending',
    'pending→scheduled',
    'scheduled→running',
  ]);
});

it('marks a host lost once even with two scheduler replicas sweeping', async () => {
  const second = await startSchedulerUnderTest({ databaseUrl: database.url, natsUrl: nats.url, control: nats.control, heartbeatIntervalMs: HEARTBEAT_MS, hostLostAfterMissed: MISSED });
  try {
    const workload = await create('twice-lost', 'gureum/flaky:1');
    await flaky.report([observedTask(workload.id, 0, 'running')]);
    flaky.stopHeartbeating();
    await waitFor(async () => (await get(workload.id)).state === 'pending', { timeoutMs: 5000, what: 'the workload to be lost and pending again' });
    await new Promise((resolve) => setTimeout(resolve, HEARTBEAT_MS * 3));
    const { rows } = await scheduler.db.query(`SELECT count(*)::int AS n FROM scheduler.workload_events WHERE workload_id = $1 AND to_state = 'lost'`, [workload.id]);
    expect(rows[0].n).toBe(1);
    const lostLogs = [...scheduler.logs, ...second.logs].filter((line) => line.msg === 'host lost: no heartbeat' && line['nodeId'] === 'flaky');
    // Once in the first test, once here: each loss is declared by exactly one replica.
    expect(lostLogs).toHaveLength(2);
  } finally {
    await second.close();
    flaky.keepHeartbeating(HEARTBEAT_MS / 2);
  }
});
