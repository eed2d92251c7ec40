import { randomUUID } from 'node:crypto';
import { createTestDatabase, startNats, waitFor, type TestDatabase, type TestNats } from '@gureum/testing';
import { FakeAgent, observedTask } from '../testing/fake-agent';
import { DEFAULT_PLACEMENT_SETTINGS } from './placement';
import { callerOf, startSchedulerUnderTest, type SchedulerUnderTest } from '../testing/scheduler-under-test';

let database: TestDatabase;
let nats: TestNats;
let scheduler: SchedulerUnderTest;
const agents: FakeAgent[] = [];

async function agent(nodeId: string, capacity: FakeAgent['capacity'], images: string[]): Promise<FakeAgent> {
  const connected = await FakeAgent.connect({ natsUrl: nats.url, nodeId, credentials: nats.agent(nodeId), capacity, images });
  agents.push(connected);
  connected.keepHeartbeating(300);
  await waitFor(async () => (await scheduler.db.query(`SELECT 1 FROM scheduler.hosts WHERE id = $1`, [nodeId])).rowCount === 1, {
    timeoutMs: 5000,
    what: `host ${nodeId} to register`,
  });
  return connected;
}

beforeAll(async () => {
  database = await createTestDatabase('scheduler_placement');
  nats = await startNats({ agents: ['node-a', 'node-b', 'node-c'] });
  scheduler = await startSchedulerUnderTest({
    databaseUrl: database.url,
    natsUrl: nats.url,
    control: nats.control,
    heartbeatIntervalMs: 1000,
    hostLostAfterMissed: 5,
    // No CPU overcommit: these tests count exactly how many workloads fit.
    placement: { ...DEFAULT_PLACEMENT_SETTINGS, allocationRatios: { cpuMillis: 1, memoryMiB: 1, pids: 1 } },
  });
});

afterAll(async () => {
  for (const connected of agents) await connected.close();
  await scheduler?.close();
  await nats?.stop();
  await database?.drop();
});

it('leaves a workload pending with a reason when nothing has room, and places it once a second host appears', async () => {
  const tenant = randomUUID();
  const image = 'gureum/web:1';
  await agent('node-a', { cpuMillis: 1000, memoryMiB: 1024, pids: 1024 }, [image]);
  const request = (name: string) =>
    scheduler.api.request('scheduler.cmd.workload.create.v1', {
      caller: callerOf(tenant),
      spec: { name, kind: 'container', image, resources: { cpuMillis: 600, memoryMiB: 64, pids: 64 } },
    });

  const first = await request('first');
  expect(first).toMatchObject({ state: 'scheduled', hostId: 'node-a' });
  const second = await request('second');
  expect(second).toMatchObject({ state: 'pending', hostId: null, reason: 'no ready host has room for 600m CPU, 64 MiB, 64 pids' });

  // node-b has room but not the image yet: its arrival (which kicks placement) and a full
  // retry interval later, the workload is still pending.
  const nodeB = await agent('node-b', { cpuMillis: 1000, memoryMiB: 1024, pids: 1024 }, []);
  const get = () => scheduler.api.request('scheduler.cmd.workload.get.v1', { caller: callerOf(tenant), workloadId: second.id });
  await new Promise((resolve) => setTimeout(resolve, 1200));
  expect(await get()).toMatchObject({ state: 'pending', hostId: null });

  nodeB.images = [image];
  const placed = await waitFor(async () => {
    const view = await get();
    return view.state === 'scheduled' ? view : undefined;
  }, { timeoutMs: 5000, what: 'the pending workload to be placed on node-b' });
  expect(placed).toMatchObject({ hostId: 'node-b', reason: null });
  expect((await nodeB.assignments()).assignments.map((a) => a.workloadId)).toEqual([second.id]);
});

it('places exactly as many workloads as fit when 30 creates race for a host that fits 10', async () => {
  const tenant = randomUUID();
  const image = 'gureum/race:1'; // only node-c has it, so only node-c competes
  await agent('node-c', { cpuMillis: 1000, memoryMiB: 100_000, pids: 100_000 }, [image]);

  const results = await Promise.all(
    Array.from({ length: 30 }, (_, i) =>
      scheduler.api.request('scheduler.cmd.workload.create.v1', {
        caller: callerOf(tenant),
        spec: { name: `racer-${i}`, kind: 'container', image, resources: { cpuMillis: 100, memoryMiB: 16, pids: 8 } },
      }),
    ),
  );

  expect(results.filter((view) => view.state === 'scheduled')).toHaveLength(10);
  const pending = results.filter((view) => view.state === 'pending');
  expect(pending).toHaveLength(20);
  for (const view of pending) expect(view.reason).toBe('no ready host has room for 100m CPU, 16 MiB, 8 pids');

  const { rows: claims } = await scheduler.db.query(`SELECT count(*)::int AS n, sum(cpu_millis)::int AS cpu FROM scheduler.claims WHERE host_id = 'node-c'`);
  expect(claims[0]).toEqual({ n: 10, cpu: 1000 });
  const { rows: hosts } = await scheduler.db.query(
    `SELECT allocated_cpu_millis, capacity_cpu_millis, allocated_memory_mib, allocated_pids, generation FROM scheduler.hosts WHERE id = 'node-c'`,
  );
  expect(hosts[0]).toEqual({ allocated_cpu_millis: 1000, capacity_cpu_millis: 1000, allocated_memory_mib: 160, allocated_pids: 80, generation: 10 });

  // Freeing one slot (delete, then the agent confirms the task is gone) lets a pending one in.
  // Not necessarily the oldest: a timer batch already past the oldest when the claim is
  // released places the next one it reaches (the loop is oldest-first, not strictly fair).
  const victim = results.find((view) => view.state === 'scheduled')!;
  const nodeC = agents.find((a) => a.nodeId === 'node-c')!;
  await scheduler.api.request('scheduler.cmd.workload.delete.v1', { caller: callerOf(tenant), workloadId: victim.id });
  await nodeC.report([observedTask(victim.id, 0, 'absent')]);
  const pendingIds = pending.map((view) => view.id);
  await waitFor(
    async () =>
      (await scheduler.db.query(`SELECT 1 FROM scheduler.workloads WHERE id = ANY($1::uuid[]) AND state = 'scheduled' AND host_id = 'node-c'`, [pendingIds])).rowCount === 1,
    { timeoutMs: 5000, what: 'a pending workload to take the freed slot' },
  );
  const { rows: after } = await scheduler.db.query(`SELECT allocated_cpu_millis FROM scheduler.hosts WHERE id = 'node-c'`);
  expect(after[0].allocated_cpu_millis).toBe(1000);
  const { rows: pendingLeft } = await scheduler.db.query(`SELECT count(*)::int AS n FROM scheduler.workloads WHERE tenant_id = $1 AND state = 'pending'`, [tenant]);
  expect(pendingLeft[0].n).toBe(19);
});
