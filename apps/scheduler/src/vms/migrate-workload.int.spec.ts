/**
 * MigrateWorkload against real PostgreSQL and NATS, with fake agents that serve the vm
 * commands on their own subjects under their own (restricted) NATS users. Checks the
 * bookkeeping: target reservation before anything moves, the claim moving on success, the
 * reservation released and the VM left on its source on failure, typed refusals.
 */
import { randomUUID } from 'node:crypto';
import { GureumError, type OperatorCaller } from '@gureum/contracts';
import { createTestDatabase, startNats, waitFor, type TestDatabase, type TestNats } from '@gureum/testing';
import { FakeAgent, observedTask } from '../testing/fake-agent';
import { callerOf, startSchedulerUnderTest, type SchedulerUnderTest } from '../testing/scheduler-under-test';

let database: TestDatabase;
let nats: TestNats;
let scheduler: SchedulerUnderTest;
const agents: FakeAgent[] = [];
const operator: OperatorCaller = { principalId: 'ops', role: 'operator', requestId: 'r-migrate' };
/** What each fake source answers to `migrate.send`. */
const sendOutcome = new Map<string, 'completed' | 'failed'>();
const calls: string[] = [];

async function vmAgent(nodeId: string, drivers: Array<'vm' | 'docker'> = ['vm'], memoryMiB = 4096): Promise<FakeAgent> {
  const agent = await FakeAgent.connect({ natsUrl: nats.url, nodeId, credentials: nats.agent(nodeId) });
  const capacity = { cpuMillis: 4000, memoryMiB, pids: 4096 };
  const reports = drivers.map((driver) => ({ driver, healthy: true, detail: 'fake', capacity, images: driver === 'vm' ? ['tiny'] : [] }));
  const beat = () => agent.heartbeat({ drivers: reports }).catch(() => undefined);
  void beat();
  setInterval(() => void beat(), 300).unref();
  agent.bus.onCommand(
    'agent.*.cmd.vm.migrate.prepare.v1',
    async ({ assignment }) => {
      calls.push(`${nodeId}: prepare ${assignment.driver} ${assignment.spec.image} ${JSON.stringify(assignment.spec.vm)}`);
      return { host: '127.0.0.1', port: 4444 };
    },
    { nodeId },
  );
  agent.bus.onCommand(
    'agent.*.cmd.vm.migrate.send.v1',
    async ({ target }) => {
      calls.push(`${nodeId}: send to ${target.host}:${target.port}`);
      const status = sendOutcome.get(nodeId) ?? 'completed';
      return { status, totalTimeMs: 10, downtimeMs: status === 'completed' ? 5 : null, transferredBytes: 1, error: status === 'failed' ? 'connection refused' : null };
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
  agents.push(agent);
  await waitFor(async () => (await scheduler.db.query(`SELECT 1 FROM scheduler.hosts WHERE id = $1 AND 'vm-template+tiny' = ANY(images) OR id = $1 AND NOT ('vm' = ANY(drivers))`, [nodeId])).rowCount === 1, {
    timeoutMs: 5000,
    what: `host ${nodeId}`,
  });
  return agent;
}

async function allocated(hostId: string): Promise<{ cpu: number; mem: number }> {
  const { rows } = await scheduler.db.query<{ cpu: number; mem: number }>(
    `SELECT allocated_cpu_millis AS cpu, allocated_memory_mib AS mem FROM scheduler.hosts WHERE id = $1`,
    [hostId],
  );
  return rows[0]!;
}

beforeAll(async () => {
  database = await createTestDatabase('scheduler_migrate');
  nats = await startNats({ agents: ['vm-a', 'vm-b', 'docker-c', 'vm-small'] });
  scheduler = await startSchedulerUnderTest({ databaseUrl: database.url, natsUrl: nats.url, control: nats.control });
  await vmAgent('vm-a');
});

afterAll(async () => {
  for (const agent of agents) await agent.close();
  await scheduler?.close();
  await nats?.stop();
  await database?.drop();
});

async function runningVm(tenant: string, name: string): Promise<string> {
  const created = await scheduler.api.request('scheduler.cmd.workload.create.v1', {
    caller: callerOf(tenant),
    spec: { name, kind: 'vm', image: 'tiny', resources: { cpuMillis: 1000, memoryMiB: 128 }, vm: { diskGiB: 1 } },
  });
  expect(created).toMatchObject({ kind: 'vm', state: 'scheduled', hostId: 'vm-a', vm: { diskGiB: 1 } });
  const agent = agents.find((candidate) => candidate.nodeId === 'vm-a')!;
  expect((await agent.assignments()).assignments.find((a) => a.workloadId === created.id)).toMatchObject({
    driver: 'vm',
    spec: { image: 'tiny', vm: { diskGiB: 1 } },
  });
  await agent.report([observedTask(created.id, created.generation, 'running')]);
  await waitFor(
    async () => (await scheduler.api.request('scheduler.cmd.workload.get.v1', { caller: callerOf(tenant), workloadId: created.id })).state === 'running',
    { timeoutMs: 5000, what: 'vm running' },
  );
  return created.id;
}

it('refuses targets without the vm driver or room, or the source itself, with typed errors and no change', async () => {
  await vmAgent('docker-c', ['docker']);
  await vmAgent('vm-small', ['vm'], 200); // 128 MiB + QEMU overhead does not fit
  const tenant = randomUUID();
  const id = await runningVm(tenant, 'refused');
  const attempt = (targetHostId?: string) =>
    scheduler.api.request('scheduler.cmd.workload.migrate.v1', { caller: operator, workloadId: id, mode: 'live', ...(targetHostId ? { targetHostId } : {}) }).then(
      () => null,
      (error: unknown) => (error instanceof GureumError ? `${error.code}: ${error.message}` : String(error)),
    );
  expect(await attempt('docker-c')).toBe('invalid_state: host docker-c does not offer the vm driver');
  expect(await attempt('vm-small')).toMatch(/^invalid_state: host vm-small has no room/);
  expect(await attempt()).toMatch(/^invalid_state: no other host can take workload/);
  expect(await attempt('vm-a')).toMatch(/^validation_failed/);
  const after = await scheduler.api.request('scheduler.cmd.workload.get.v1', { caller: callerOf(tenant), workloadId: id });
  expect(after).toMatchObject({ state: 'running', hostId: 'vm-a' });
  expect((await scheduler.db.query(`SELECT 1 FROM scheduler.migration_claims`)).rowCount).toBe(0);
});

it('on failure releases the target reservation, tells the target to drop the VM, and leaves it running on the source', async () => {
  await vmAgent('vm-b');
  const tenant = randomUUID();
  const id = await runningVm(tenant, 'fails');
  const before = await allocated('vm-b');
  sendOutcome.set('vm-a', 'failed');
  calls.length = 0;
  const result = await scheduler.api.request('scheduler.cmd.workload.migrate.v1', { caller: operator, workloadId: id, mode: 'live' }, { timeoutMs: 20_000 });
  expect(result).toMatchObject({ status: 'failed', sourceHostId: 'vm-a', targetHostId: 'vm-b', error: 'connection refused', workload: { state: 'running', hostId: 'vm-a' } });
  expect(calls).toEqual(['vm-b: prepare vm tiny {"diskGiB":1}', 'vm-a: send to 127.0.0.1:4444', 'vm-b: abort']);
  expect(await allocated('vm-b')).toEqual(before);
  const { rows } = await scheduler.db.query(`SELECT host_id FROM scheduler.claims WHERE workload_id = $1`, [id]);
  expect(rows).toEqual([{ host_id: 'vm-a' }]);
});

it('on success moves the claim and the workload to the target (the scheduler picks it), keeping the id', async () => {
  const tenant = randomUUID();
  const id = await runningVm(tenant, 'moves');
  const sourceBefore = await allocated('vm-a');
  const targetBefore = await allocated('vm-b');
  sendOutcome.set('vm-a', 'completed');
  const result = await scheduler.api.request('scheduler.cmd.workload.migrate.v1', { caller: operator, workloadId: id, mode: 'live' }, { timeoutMs: 20_000 });
  expect(result).toMatchObject({ status: 'completed', targetHostId: 'vm-b', downtimeMs: 5, workload: { id, state: 'running', hostId: 'vm-b' } });
  const claim = { cpu: 1000, mem: 128 + 160 };
  expect(await allocated('vm-a')).toEqual({ cpu: sourceBefore.cpu - claim.cpu, mem: sourceBefore.mem - claim.mem });
  expect(await allocated('vm-b')).toEqual({ cpu: targetBefore.cpu + claim.cpu, mem: targetBefore.mem + claim.mem });
  const { rows } = await scheduler.db.query(`SELECT host_id FROM scheduler.claims WHERE workload_id = $1`, [id]);
  expect(rows).toEqual([{ host_id: 'vm-b' }]);
  expect((await scheduler.db.query(`SELECT 1 FROM scheduler.migration_claims`)).rowCount).toBe(0);
  const history = await scheduler.db.query<{ from_state: string; to_state: string }>(
    `SELECT from_state, to_state FROM scheduler.workload_events WHERE workload_id = $1 ORDER BY at, event_id`,
    [id],
  );
  expect(history.rows.slice(-2)).toEqual([
    { from_state: 'running', to_state: 'migrating' },
    { from_state: 'migrating', to_state: 'running' },
  ]);
});
