/**
 * Recovery of VM migrations a scheduler crash interrupted, against real PostgreSQL and NATS
 * with fake agents answering `agent.<id>.cmd.vm.status.v1` under their own NATS users. A
 * crashed migration is what `MigrateWorkloadUseCase.reserve` commits before anything moves
 * (a `migration_claims` row counted in the target's allocation, the workload `migrating`)
 * with no scheduler left to finish it; the periodic sweep (host monitor tick, recovery
 * timeout 1.5 s here) settles it on whichever host really runs the VM, or `lost`.
 */
import { randomUUID } from 'node:crypto';
import { createTestDatabase, startNats, waitFor, type TestDatabase, type TestNats } from '@gureum/testing';
import { FakeAgent, observedTask } from '../testing/fake-agent';
import { callerOf, startSchedulerUnderTest, type SchedulerUnderTest } from '../testing/scheduler-under-test';

let database: TestDatabase;
let nats: TestNats;
let scheduler: SchedulerUnderTest;
const agents = new Map<string, FakeAgent>();
/** `${nodeId}:${workloadId}` → what that agent says about the VM (absent when missing). */
const vmState = new Map<string, string>();
const calls: string[] = [];
const CLAIM = { cpu: 1000, mem: 128 + 160 };

async function vmAgent(nodeId: string): Promise<FakeAgent> {
  const agent = await FakeAgent.connect({ natsUrl: nats.url, nodeId, credentials: nats.agent(nodeId) });
  const capacity = { cpuMillis: 4000, memoryMiB: 4096, pids: 4096 };
  const beat = () => agent.heartbeat({ drivers: [{ driver: 'vm', healthy: true, detail: 'fake', capacity, images: ['tiny'] }] }).catch(() => undefined);
  void beat();
  setInterval(() => void beat(), 300).unref();
  agent.bus.onCommand(
    'agent.*.cmd.vm.status.v1',
    async ({ workloadId }) => {
      calls.push(`${nodeId}: status`);
      const state = vmState.get(`${nodeId}:${workloadId}`) ?? null;
      return { present: state !== null, state, incoming: false };
    },
    { nodeId },
  );
  agent.bus.onCommand(
    'agent.*.cmd.vm.migrate.abort.v1',
    async () => {
      calls.push(`${nodeId}: abort`);
      return { ok: true as const };
    },
    { nodeId },
  );
  agents.set(nodeId, agent);
  await waitFor(async () => (await scheduler.db.query(`SELECT 1 FROM scheduler.hosts WHERE id = $1 AND 'vm-template+tiny' = ANY(images)`, [nodeId])).rowCount === 1, {
    timeoutMs: 5000,
    what: `host ${nodeId}`,
  });
  return agent;
}

async function allocated(hostId: string): Promise<{ cpu: number; mem: number }> {
  const { rows } = await scheduler.db.query<{ cpu: number; mem: number }>(`SELECT allocated_cpu_millis AS cpu, allocated_memory_mib AS mem FROM scheduler.hosts WHERE id = $1`, [hostId]);
  return rows[0]!;
}

beforeAll(async () => {
  database = await createTestDatabase('scheduler_recover_migrations');
  nats = await startNats({ agents: ['vm-a', 'vm-b'] });
  scheduler = await startSchedulerUnderTest({ databaseUrl: database.url, natsUrl: nats.url, control: nats.control, heartbeatIntervalMs: 500, migrationRecoveryAfterMs: 1500 });
  await vmAgent('vm-a');
});

afterAll(async () => {
  for (const agent of agents.values()) await agent.close();
  await scheduler?.close();
  await nats?.stop();
  await database?.drop();
});

/** A VM running on vm-a whose migration to vm-b a crashed scheduler left behind. */
async function interruptedMigration(tenant: string, name: string): Promise<string> {
  // Only vm-a takes the create, whatever placement would prefer (vm-b may be up from an earlier test).
  await scheduler.db.query(`UPDATE scheduler.hosts SET state = 'cordoned' WHERE id = 'vm-b'`);
  const created = await scheduler.api
    .request('scheduler.cmd.workload.create.v1', {
      caller: callerOf(tenant),
      spec: { name, kind: 'vm', image: 'tiny', resources: { cpuMillis: 1000, memoryMiB: 128 }, vm: { diskGiB: 1 } },
    })
    .finally(() => scheduler.db.query(`UPDATE scheduler.hosts SET state = 'ready' WHERE id = 'vm-b' AND state = 'cordoned'`));
  expect(created).toMatchObject({ state: 'scheduled', hostId: 'vm-a' });
  await agents.get('vm-a')!.report([observedTask(created.id, created.generation, 'running')]);
  await waitFor(async () => (await scheduler.api.request('scheduler.cmd.workload.get.v1', { caller: callerOf(tenant), workloadId: created.id })).state === 'running', {
    timeoutMs: 5000,
    what: 'vm running',
  });
  // What MigrateWorkloadUseCase.reserve commits (then the scheduler died before the transfer ended).
  await scheduler.db.query('BEGIN');
  await scheduler.db.query(
    `INSERT INTO scheduler.migration_claims (workload_id, source_host_id, target_host_id, mode, cpu_millis, memory_mib, pids)
     SELECT id, 'vm-a', 'vm-b', 'live', cpu_millis, memory_mib + 160, pids FROM scheduler.workloads WHERE id = $1`,
    [created.id],
  );
  await scheduler.db.query(
    `UPDATE scheduler.hosts SET allocated_cpu_millis = allocated_cpu_millis + c.cpu_millis, allocated_memory_mib = allocated_memory_mib + c.memory_mib, allocated_pids = allocated_pids + c.pids
       FROM scheduler.migration_claims c WHERE hosts.id = 'vm-b' AND c.workload_id = $1`,
    [created.id],
  );
  await scheduler.db.query(`UPDATE scheduler.workloads SET state = 'migrating', reason = 'migrating to vm-b (live)' WHERE id = $1`, [created.id]);
  await scheduler.db.query('COMMIT');
  return created.id;
}

async function settled(tenant: string, id: string): Promise<{ state: string; hostId: string | null; reason: string | null }> {
  await waitFor(async () => (await scheduler.db.query(`SELECT 1 FROM scheduler.migration_claims WHERE workload_id = $1`, [id])).rowCount === 0, {
    timeoutMs: 15_000,
    what: `migration of ${id} recovered`,
  });
  return scheduler.api.request('scheduler.cmd.workload.get.v1', { caller: callerOf(tenant), workloadId: id });
}

async function claimHost(id: string): Promise<string[]> {
  const { rows } = await scheduler.db.query<{ host_id: string }>(`SELECT host_id FROM scheduler.claims WHERE workload_id = $1`, [id]);
  return rows.map((row) => row.host_id);
}

it('still on the source: releases the reservation on the target, drops its copy, running on the source', async () => {
  await vmAgent('vm-b');
  const tenant = randomUUID();
  const id = await interruptedMigration(tenant, 'stayed');
  const target = await allocated('vm-b');
  vmState.set(`vm-a:${id}`, 'running');
  vmState.set(`vm-b:${id}`, 'paused'); // QEMU -incoming still waiting there
  calls.length = 0;
  const after = await settled(tenant, id);
  expect(after).toMatchObject({ state: 'running', hostId: 'vm-a' });
  expect(after.reason).toMatch(/interrupted/);
  expect(await allocated('vm-b')).toEqual({ cpu: target.cpu - CLAIM.cpu, mem: target.mem - CLAIM.mem });
  expect(await claimHost(id)).toEqual(['vm-a']);
  expect(calls).toEqual(['vm-a: status', 'vm-b: abort']);
});

it('completed before the crash: the reservation becomes the claim on the target, running there with the same id', async () => {
  const tenant = randomUUID();
  const id = await interruptedMigration(tenant, 'moved');
  const source = await allocated('vm-a');
  const target = await allocated('vm-b');
  vmState.set(`vm-a:${id}`, 'exited'); // the source QEMU quit after handing the VM over
  vmState.set(`vm-b:${id}`, 'running');
  calls.length = 0;
  const after = await settled(tenant, id);
  expect(after).toMatchObject({ id, state: 'running', hostId: 'vm-b' });
  expect(await claimHost(id)).toEqual(['vm-b']);
  // The source's claim is released; the target keeps what the reservation had already added.
  expect(await allocated('vm-a')).toEqual({ cpu: source.cpu - CLAIM.cpu, mem: source.mem - CLAIM.mem });
  expect(await allocated('vm-b')).toEqual(target);
  expect(calls).toEqual(['vm-a: status', 'vm-b: status']);
  const history = await scheduler.db.query<{ from_state: string; to_state: string }>(
    `SELECT from_state, to_state FROM scheduler.workload_events WHERE workload_id = $1 ORDER BY at, event_id`,
    [id],
  );
  expect(history.rows.at(-1)).toEqual({ from_state: 'migrating', to_state: 'running' });
});

it('on neither host: releases the reservation and marks the VM lost on its source', async () => {
  const tenant = randomUUID();
  const id = await interruptedMigration(tenant, 'vanished');
  const target = await allocated('vm-b');
  calls.length = 0;
  const after = await settled(tenant, id);
  expect(after).toMatchObject({ state: 'lost', hostId: 'vm-a' });
  expect(after.reason).toMatch(/neither host/);
  expect(await allocated('vm-b')).toEqual({ cpu: target.cpu - CLAIM.cpu, mem: target.mem - CLAIM.mem });
  expect(calls).toEqual(['vm-a: status', 'vm-b: status', 'vm-b: abort']);
});
