import { randomUUID } from 'node:crypto';
import { createTestDatabase, startNats, waitFor, type TestDatabase, type TestNats } from '@gureum/testing';
import { FakeAgent } from '../testing/fake-agent';
import { callerOf, startSchedulerUnderTest, type SchedulerUnderTest } from '../testing/scheduler-under-test';
import { DEFAULT_PLACEMENT_SETTINGS } from './placement';

let database: TestDatabase;
let nats: TestNats;
let scheduler: SchedulerUnderTest;
const agents: FakeAgent[] = [];
const IMAGE = 'gureum/prio:1';

beforeAll(async () => {
  database = await createTestDatabase('scheduler_preemption');
  nats = await startNats({ agents: ['node-p', 'node-later'] });
  scheduler = await startSchedulerUnderTest({
    databaseUrl: database.url,
    natsUrl: nats.url,
    control: nats.control,
    placement: { ...DEFAULT_PLACEMENT_SETTINGS, allocationRatios: { cpuMillis: 1, memoryMiB: 1, pids: 1 } },
    placementRetryIntervalMs: 200,
  });
  agents.push(await FakeAgent.connect({ natsUrl: nats.url, nodeId: 'node-p', credentials: nats.agent('node-p'), capacity: { cpuMillis: 1000, memoryMiB: 4096, pids: 4096 }, images: [IMAGE] }));
  agents[0]!.keepHeartbeating(300);
  await waitFor(async () => (await scheduler.db.query(`SELECT 1 FROM scheduler.hosts WHERE id = 'node-p'`)).rowCount === 1, { timeoutMs: 5000, what: 'host to register' });
});

afterAll(async () => {
  for (const agent of agents) await agent.close();
  await scheduler?.close();
  await nats?.stop();
  await database?.drop();
});

it('a higher-priority create preempts the lowest-priority preemptible workloads on a full host; they are re-placed when room appears', async () => {
  const tenant = randomUUID();
  const create = (name: string, cpuMillis: number, extra: { priority?: number; preemptible?: boolean }) =>
    scheduler.api.request('scheduler.cmd.workload.create.v1', {
      caller: callerOf(tenant),
      spec: { name, kind: 'container', image: IMAGE, resources: { cpuMillis, memoryMiB: 32, pids: 8 }, ...extra },
    });

  const batch = await create('batch', 400, { priority: 10, preemptible: true });
  const protectedOne = await create('protected', 300, { priority: 0 });
  const cheap = await create('cheap', 300, { priority: 5, preemptible: true });
  expect([batch, protectedOne, cheap].map((view) => view.state)).toEqual(['scheduled', 'scheduled', 'scheduled']);

  // Needs 500m on a full 1000m host: cheap (priority 5) goes first, then batch (10); the
  // non-preemptible one stays.
  const urgent = await create('urgent', 500, { priority: 500 });
  expect(urgent).toMatchObject({ state: 'scheduled', hostId: 'node-p', priority: 500 });
  const stateOf = async (id: string) =>
    (await scheduler.db.query(`SELECT state, host_id, reason FROM scheduler.workloads WHERE id = $1`, [id])).rows[0] as { state: string; host_id: string | null; reason: string | null };
  expect(await stateOf(cheap.id)).toEqual({ state: 'pending', host_id: null, reason: `preempted by ${urgent.id}` });
  expect(await stateOf(batch.id)).toEqual({ state: 'pending', host_id: null, reason: `preempted by ${urgent.id}` });
  expect(await stateOf(protectedOne.id)).toMatchObject({ state: 'scheduled', host_id: 'node-p' });
  const { rows: host } = await scheduler.db.query(`SELECT allocated_cpu_millis FROM scheduler.hosts WHERE id = 'node-p'`);
  expect(host[0].allocated_cpu_millis).toBe(800);

  // A low-priority create cannot preempt anything.
  const low = await create('low', 900, { priority: 1 });
  expect(low.state).toBe('pending');

  // The agent's assignments no longer list the victims, so it stops them.
  expect((await agents[0]!.assignments()).assignments.map((a) => a.workloadId).sort()).toEqual([protectedOne.id, urgent.id].sort());

  // New capacity: the preempted ones are placed again by the loop.
  const later = await FakeAgent.connect({ natsUrl: nats.url, nodeId: 'node-later', credentials: nats.agent('node-later'), capacity: { cpuMillis: 2000, memoryMiB: 4096, pids: 4096 }, images: [IMAGE] });
  agents.push(later);
  later.keepHeartbeating(300);
  await waitFor(async () => (await stateOf(cheap.id)).state === 'scheduled' && (await stateOf(batch.id)).state === 'scheduled', {
    timeoutMs: 10_000,
    what: 'the preempted workloads to be placed again',
  });
  expect((await stateOf(batch.id)).host_id).toBe('node-later');
});
