import { randomUUID } from 'node:crypto';
import { GureumError, type OperatorCaller, type WorkloadView } from '@gureum/contracts';
import { createTestDatabase, startNats, waitFor, type TestDatabase, type TestNats } from '@gureum/testing';
import { FakeAgent } from '../testing/fake-agent';
import { callerOf, startSchedulerUnderTest, type SchedulerUnderTest } from '../testing/scheduler-under-test';

const TENANT_A = randomUUID();
const TENANT_B = randomUUID();
const operator = (): OperatorCaller => ({ principalId: 'op-1', role: 'operator', requestId: randomUUID() });

let database: TestDatabase;
let nats: TestNats;
let scheduler: SchedulerUnderTest;
let nodeA: FakeAgent;

function create(name: string, tenantId: string): Promise<WorkloadView> {
  return scheduler.api.request('scheduler.cmd.workload.create.v1', {
    caller: callerOf(tenantId),
    spec: { name, kind: 'container', image: 'gureum/busybox:latest', resources: { cpuMillis: 100, memoryMiB: 32, pids: 16 } },
  });
}

async function errorOf(promise: Promise<unknown>): Promise<GureumError> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(GureumError);
  return error as GureumError;
}

beforeAll(async () => {
  database = await createTestDatabase('scheduler_admin_workloads');
  nats = await startNats({ agents: ['node-a'] });
  scheduler = await startSchedulerUnderTest({ databaseUrl: database.url, natsUrl: nats.url, control: nats.control });
  nodeA = await FakeAgent.connect({ natsUrl: nats.url, nodeId: 'node-a', credentials: nats.agent('node-a'), capacity: { cpuMillis: 8000, memoryMiB: 8192, pids: 4096 } });
  nodeA.keepHeartbeating(300);
  await waitFor(async () => ((await scheduler.db.query(`SELECT 1 FROM scheduler.hosts WHERE id = 'node-a'`)).rowCount ? true : undefined), { timeoutMs: 10_000, what: 'host' });
});

afterAll(async () => {
  await nodeA?.close();
  await scheduler?.close();
  await nats?.stop();
  await database?.drop();
});

describe('operators across tenants', () => {
  it('lists every tenant, filters by tenant, host, state and kind, and pages with a cursor', async () => {
    const a1 = await create('a-one', TENANT_A);
    const a2 = await create('a-two', TENANT_A);
    const b1 = await create('b-one', TENANT_B);
    // Nothing of another run shares this database: the full list is exactly these.
    const all = await scheduler.api.request('scheduler.cmd.admin.workload.list.v1', { caller: operator() });
    expect(all.items.map((w) => w.id)).toEqual([a1.id, a2.id, b1.id]);

    const onlyB = await scheduler.api.request('scheduler.cmd.admin.workload.list.v1', { caller: operator(), tenantId: TENANT_B });
    expect(onlyB.items.map((w) => w.id)).toEqual([b1.id]);
    const onHost = await scheduler.api.request('scheduler.cmd.admin.workload.list.v1', { caller: operator(), hostId: 'node-a', state: 'scheduled', kind: 'container' });
    expect(onHost.items.map((w) => w.id)).toEqual([a1.id, a2.id, b1.id]);
    expect((await scheduler.api.request('scheduler.cmd.admin.workload.list.v1', { caller: operator(), hostId: 'node-z' })).items).toEqual([]);
    expect((await scheduler.api.request('scheduler.cmd.admin.workload.list.v1', { caller: operator(), kind: 'vm' })).items).toEqual([]);

    const first = await scheduler.api.request('scheduler.cmd.admin.workload.list.v1', { caller: operator(), limit: 2 });
    expect(first.items.map((w) => w.id)).toEqual([a1.id, a2.id]);
    const second = await scheduler.api.request('scheduler.cmd.admin.workload.list.v1', { caller: operator(), limit: 2, cursor: first.nextCursor! });
    expect(second).toEqual({ items: [expect.objectContaining({ id: b1.id })], nextCursor: null });

    expect(await scheduler.api.request('scheduler.cmd.admin.workload.get.v1', { caller: operator(), workloadId: b1.id })).toMatchObject({ id: b1.id, tenantId: TENANT_B });
  });

  it('refuses a tenant caller on the operator commands (schema) and a forged cursor', async () => {
    const error = await errorOf(scheduler.api.request('scheduler.cmd.admin.workload.list.v1', { caller: callerOf(TENANT_A) as unknown as OperatorCaller }));
    expect(error.code).toBe('validation_failed');
    expect((await errorOf(scheduler.api.request('scheduler.cmd.admin.workload.list.v1', { caller: operator(), cursor: 'forged' }))).code).toBe('validation_failed');
  });
});

describe('operator actions on any tenant\'s workload', () => {
  it('stops, starts and deletes through the tenant\'s own state machine; an unknown workload is not found', async () => {
    const workload = await create('ops-target', TENANT_B);
    const stopped = await scheduler.api.request('scheduler.cmd.admin.workload.stop.v1', { caller: operator(), workloadId: workload.id });
    expect(stopped).toMatchObject({ id: workload.id, tenantId: TENANT_B, state: 'stopping', desiredState: 'stopped' });
    // The fake agent does not act: finish the stop as an agent report would, through the row.
    await scheduler.db.query(`UPDATE scheduler.workloads SET state = 'stopped' WHERE id = $1`, [workload.id]);
    expect(await scheduler.api.request('scheduler.cmd.admin.workload.start.v1', { caller: operator(), workloadId: workload.id })).toMatchObject({ desiredState: 'running' });
    expect(await scheduler.api.request('scheduler.cmd.admin.workload.delete.v1', { caller: operator(), workloadId: workload.id })).toMatchObject({ desiredState: 'deleted' });
    expect((await errorOf(scheduler.api.request('scheduler.cmd.admin.workload.stop.v1', { caller: operator(), workloadId: randomUUID() }))).code).toBe('not_found');
  });
});

describe('workload history', () => {
  it("gives the transitions oldest first with the host each happened on; another tenant's workload is not found", async () => {
    const workload = await create('history', TENANT_A);
    await scheduler.api.request('scheduler.cmd.workload.stop.v1', { caller: callerOf(TENANT_A), workloadId: workload.id });

    const own = await scheduler.api.request('scheduler.cmd.workload.events.v1', { caller: callerOf(TENANT_A, 'viewer'), workloadId: workload.id });
    expect(own.items.map(({ from, to, hostId }) => ({ from, to, hostId }))).toEqual([
      { from: null, to: 'scheduled', hostId: 'node-a' },
      { from: 'scheduled', to: 'stopping', hostId: 'node-a' },
    ]);
    expect(await scheduler.api.request('scheduler.cmd.admin.workload.events.v1', { caller: operator(), workloadId: workload.id })).toEqual(own);

    expect((await errorOf(scheduler.api.request('scheduler.cmd.workload.events.v1', { caller: callerOf(TENANT_B), workloadId: workload.id }))).code).toBe('not_found');
    expect((await errorOf(scheduler.api.request('scheduler.cmd.admin.workload.events.v1', { caller: operator(), workloadId: randomUUID() }))).code).toBe('not_found');
  });
});
