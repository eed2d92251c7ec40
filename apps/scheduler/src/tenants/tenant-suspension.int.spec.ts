import { randomUUID } from 'node:crypto';
import { GureumError, type OperatorCaller, type WorkloadView } from '@gureum/contracts';
import { createTestDatabase, startNats, waitFor, type TestDatabase, type TestNats } from '@gureum/testing';
import { FakeAgent, observedTask } from '../testing/fake-agent';
import { callerOf, startSchedulerUnderTest, type SchedulerUnderTest } from '../testing/scheduler-under-test';

const TENANT = randomUUID();
const OTHER = randomUUID();
const OPERATOR: OperatorCaller = { principalId: 'operator-key', role: 'operator', requestId: 'suspend-test' };
const spec = (name: string) => ({ name, kind: 'container' as const, image: 'gureum/busybox:latest', resources: { cpuMillis: 100, memoryMiB: 16, pids: 16 } });

let database: TestDatabase;
let nats: TestNats;
let scheduler: SchedulerUnderTest;
let node: FakeAgent;

async function expectError(promise: Promise<unknown>, code: string): Promise<void> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(GureumError);
  expect((error as GureumError).code).toBe(code);
}

const create = (name: string, tenantId = TENANT): Promise<WorkloadView> =>
  scheduler.api.request('scheduler.cmd.workload.create.v1', { caller: callerOf(tenantId), spec: spec(name) });
const get = (workloadId: string, tenantId = TENANT): Promise<WorkloadView> =>
  scheduler.api.request('scheduler.cmd.workload.get.v1', { caller: callerOf(tenantId), workloadId });

beforeAll(async () => {
  database = await createTestDatabase('scheduler_suspension');
  nats = await startNats({ agents: ['node-s'] });
  scheduler = await startSchedulerUnderTest({ databaseUrl: database.url, natsUrl: nats.url, control: nats.control });
  node = await FakeAgent.connect({ natsUrl: nats.url, nodeId: 'node-s', credentials: nats.agent('node-s'), capacity: { cpuMillis: 8000, memoryMiB: 8192, pids: 8192 } });
  node.keepHeartbeating(300);
  await waitFor(async () => ((await scheduler.db.query(`SELECT 1 FROM scheduler.hosts WHERE id = 'node-s'`)).rowCount ? true : undefined), {
    timeoutMs: 10_000,
    what: 'host to register',
  });
});

afterAll(async () => {
  await node?.close();
  await scheduler?.close();
  await nats?.stop();
  await database?.drop();
});

describe('scheduler.cmd.tenant.suspend.v1 / resume.v1', () => {
  it('stops what runs, refuses creates and starts while suspended, and restarts only what it stopped', async () => {
    const running = await create('running');
    const stoppedByTenant = await create('stopped-by-tenant');
    const otherTenant = await create('other', OTHER);
    await node.report([observedTask(running.id, 0, 'running'), observedTask(stoppedByTenant.id, 0, 'running'), observedTask(otherTenant.id, 0, 'running')]);
    await scheduler.api.request('scheduler.cmd.workload.stop.v1', { caller: callerOf(TENANT), workloadId: stoppedByTenant.id });
    await node.report([observedTask(running.id, 0, 'running'), observedTask(stoppedByTenant.id, 0, 'exited', { exitCode: 0 }), observedTask(otherTenant.id, 0, 'running')]);

    expect(await scheduler.api.request('scheduler.cmd.tenant.suspend.v1', { caller: OPERATOR, tenantId: TENANT })).toEqual({ tenantId: TENANT, workloadsAffected: 1 });
    expect(await get(running.id)).toMatchObject({ state: 'stopping', desiredState: 'stopped' });
    expect(await get(otherTenant.id, OTHER)).toMatchObject({ state: 'running' });
    // Idempotent: nothing left to stop.
    expect(await scheduler.api.request('scheduler.cmd.tenant.suspend.v1', { caller: OPERATOR, tenantId: TENANT })).toEqual({ tenantId: TENANT, workloadsAffected: 0 });

    await expectError(create('while-suspended'), 'forbidden');
    await expectError(scheduler.api.request('scheduler.cmd.workload.start.v1', { caller: callerOf(TENANT), workloadId: stoppedByTenant.id }), 'forbidden');
    // Resuming before the stop completed is refused, and the tenant stays resumable.
    await expectError(scheduler.api.request('scheduler.cmd.tenant.resume.v1', { caller: OPERATOR, tenantId: TENANT }), 'invalid_state');

    await node.report([observedTask(running.id, 0, 'exited', { exitCode: 143 }), observedTask(otherTenant.id, 0, 'running')]);
    expect((await get(running.id)).state).toBe('stopped');
    expect(await scheduler.api.request('scheduler.cmd.tenant.resume.v1', { caller: OPERATOR, tenantId: TENANT })).toEqual({ tenantId: TENANT, workloadsAffected: 1 });
    expect(await get(running.id)).toMatchObject({ state: 'starting', desiredState: 'running', generation: 1 });
    expect(await get(stoppedByTenant.id)).toMatchObject({ state: 'stopped' });
    await expect(create('after-resume')).resolves.toMatchObject({ name: 'after-resume' });
    expect(await scheduler.api.request('scheduler.cmd.tenant.resume.v1', { caller: OPERATOR, tenantId: TENANT })).toEqual({ tenantId: TENANT, workloadsAffected: 0 });
  });

  it('refuses a caller that is not an operator, and a missing caller', async () => {
    const asOwner = { caller: callerOf(TENANT, 'owner'), tenantId: TENANT } as unknown as { caller: OperatorCaller; tenantId: string };
    await expectError(scheduler.api.request('scheduler.cmd.tenant.suspend.v1', asOwner), 'validation_failed');
    await expectError(scheduler.api.request('scheduler.cmd.tenant.resume.v1', { tenantId: TENANT } as unknown as { caller: OperatorCaller; tenantId: string }), 'validation_failed');
  });
});
