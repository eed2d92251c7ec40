import { randomUUID } from 'node:crypto';
import { ErrorCode, GureumError, type OperatorCaller } from '@gureum/contracts';
import { createTestDatabase, startNats, waitFor, type TestDatabase, type TestNats } from '@gureum/testing';
import { DEFAULT_PLACEMENT_SETTINGS } from '../placement/placement';
import { FakeAgent, observedTask } from '../testing/fake-agent';
import { callerOf, startSchedulerUnderTest, type SchedulerUnderTest } from '../testing/scheduler-under-test';

let database: TestDatabase;
let nats: TestNats;
let scheduler: SchedulerUnderTest;
let agent: FakeAgent;
const IMAGE = 'gureum/quota:1';
const operator = (): OperatorCaller => ({ principalId: 'op-1', role: 'operator', requestId: randomUUID() });

beforeAll(async () => {
  database = await createTestDatabase('scheduler_quotas');
  nats = await startNats({ agents: ['node-q'] });
  scheduler = await startSchedulerUnderTest({
    databaseUrl: database.url,
    natsUrl: nats.url,
    control: nats.control,
    placement: { ...DEFAULT_PLACEMENT_SETTINGS, allocationRatios: { cpuMillis: 1, memoryMiB: 1, pids: 1 } },
    defaultQuotas: { cpuMillis: 10_000, memoryMiB: 10_000, pids: 1_000, workloads: 3, vms: 0 },
  });
  agent = await FakeAgent.connect({ natsUrl: nats.url, nodeId: 'node-q', credentials: nats.agent('node-q'), capacity: { cpuMillis: 1000, memoryMiB: 4096, pids: 4096 }, images: [IMAGE] });
  agent.keepHeartbeating(300);
  await waitFor(async () => (await scheduler.db.query(`SELECT 1 FROM scheduler.hosts WHERE id = 'node-q'`)).rowCount === 1, { timeoutMs: 5000, what: 'host to register' });
});

afterAll(async () => {
  await agent?.close();
  await scheduler?.close();
  await nats?.stop();
  await database?.drop();
});

function create(tenant: string, name: string, resources = { cpuMillis: 100, memoryMiB: 64, pids: 8 }) {
  return scheduler.api.request('scheduler.cmd.workload.create.v1', { caller: callerOf(tenant), spec: { name, kind: 'container', image: IMAGE, resources } });
}

async function refusal(promise: Promise<unknown>): Promise<GureumError> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  if (!(error instanceof GureumError)) throw new Error(`expected a GureumError, got ${String(error)}`);
  return error;
}

it('refuses the create that would exceed the default workload quota, naming it, and writes nothing', async () => {
  const tenant = randomUUID();
  for (const name of ['a', 'b', 'c']) await create(tenant, name);
  const error = await refusal(create(tenant, 'd'));
  expect(error.code).toBe(ErrorCode.QuotaExceeded);
  expect(error.details).toEqual({ quota: 'workloads', limit: 3, used: 3, requested: 1 });
  const { rows } = await scheduler.db.query(`SELECT count(*)::int AS n FROM scheduler.workloads WHERE tenant_id = $1`, [tenant]);
  expect(rows[0].n).toBe(3);
  expect(await scheduler.api.request('scheduler.cmd.quota.get.v1', { caller: callerOf(tenant) })).toEqual({
    limits: { cpuMillis: 10_000, memoryMiB: 10_000, pids: 1_000, workloads: 3, vms: 0 },
    used: { cpuMillis: 300, memoryMiB: 192, pids: 24, workloads: 3, vms: 0 },
  });
});

it('applies operator overrides and resets, and counts pending workloads against the quota too', async () => {
  const tenant = randomUUID();
  const set = await scheduler.api.request('scheduler.cmd.quota.set.v1', { caller: operator(), tenantId: tenant, overrides: { memoryMiB: 200, workloads: 10 } });
  expect(set.limits).toEqual({ cpuMillis: 10_000, memoryMiB: 200, pids: 1_000, workloads: 10, vms: 0 });

  // 2 × 600m: the second cannot be placed (1000m host, 300m taken) but is pending and holds quota.
  const first = await create(tenant, 'big-1', { cpuMillis: 600, memoryMiB: 90, pids: 8 });
  const second = await create(tenant, 'big-2', { cpuMillis: 600, memoryMiB: 90, pids: 8 });
  expect([first.state, second.state]).toEqual(['scheduled', 'pending']);
  const error = await refusal(create(tenant, 'big-3', { cpuMillis: 10, memoryMiB: 30, pids: 8 }));
  expect(error.details).toEqual({ quota: 'memoryMiB', limit: 200, used: 180, requested: 30 });

  // Deleting the pending one (no task anywhere) releases its quota at once.
  await scheduler.api.request('scheduler.cmd.workload.delete.v1', { caller: callerOf(tenant), workloadId: second.id });
  const third = await create(tenant, 'big-3', { cpuMillis: 10, memoryMiB: 30, pids: 8 });
  expect(third.state).toBe('scheduled');

  // Deleting a placed one releases when the agent confirms the task is gone.
  await scheduler.api.request('scheduler.cmd.workload.delete.v1', { caller: callerOf(tenant), workloadId: first.id });
  expect((await scheduler.api.request('scheduler.cmd.quota.get.v1', { caller: callerOf(tenant) })).used.memoryMiB).toBe(120);
  await agent.report([observedTask(first.id, 0, 'absent')]);
  const admin = await scheduler.api.request('scheduler.cmd.quota.admin-get.v1', { caller: operator(), tenantId: tenant });
  expect(admin.used).toEqual({ cpuMillis: 10, memoryMiB: 30, pids: 8, workloads: 1, vms: 0 });

  const reset = await scheduler.api.request('scheduler.cmd.quota.set.v1', { caller: operator(), tenantId: tenant, overrides: { memoryMiB: null } });
  expect(reset.limits).toEqual({ cpuMillis: 10_000, memoryMiB: 10_000, pids: 1_000, workloads: 10, vms: 0 });
});

it('refuses the create that would exceed the pids quota (the sum of its workloads’ process limits), naming it, and writes nothing', async () => {
  const tenant = randomUUID();
  await scheduler.api.request('scheduler.cmd.quota.set.v1', { caller: operator(), tenantId: tenant, overrides: { pids: 100, workloads: 10 } });
  await create(tenant, 'p-60', { cpuMillis: 10, memoryMiB: 8, pids: 60 });
  const error = await refusal(create(tenant, 'p-50', { cpuMillis: 10, memoryMiB: 8, pids: 50 }));
  expect(error.code).toBe(ErrorCode.QuotaExceeded);
  expect(error.details).toEqual({ quota: 'pids', limit: 100, used: 60, requested: 50 });
  const { rows } = await scheduler.db.query(`SELECT count(*)::int AS n FROM scheduler.workloads WHERE tenant_id = $1`, [tenant]);
  expect(rows[0].n).toBe(1);
  // Up to the limit exactly is fine; one more process is not.
  const last = await create(tenant, 'p-40', { cpuMillis: 10, memoryMiB: 8, pids: 40 });
  expect((await refusal(create(tenant, 'p-1', { cpuMillis: 10, memoryMiB: 8, pids: 1 }))).details).toEqual({ quota: 'pids', limit: 100, used: 100, requested: 1 });
  // A pending workload (never placed) deleted gives its pids back at once.
  await scheduler.api.request('scheduler.cmd.quota.set.v1', { caller: operator(), tenantId: tenant, overrides: { pids: 150 } });
  const pending = await scheduler.api.request('scheduler.cmd.workload.create.v1', {
    caller: callerOf(tenant),
    spec: { name: 'p-pending', kind: 'container', image: IMAGE, resources: { cpuMillis: 10, memoryMiB: 8, pids: 50 }, placement: { constraints: ['zone=mars'] } },
  });
  expect(pending.state).toBe('pending');
  expect((await scheduler.api.request('scheduler.cmd.quota.get.v1', { caller: callerOf(tenant) })).used.pids).toBe(150);
  await scheduler.api.request('scheduler.cmd.workload.delete.v1', { caller: callerOf(tenant), workloadId: pending.id });
  expect((await scheduler.api.request('scheduler.cmd.quota.get.v1', { caller: callerOf(tenant) })).used.pids).toBe(100);
  expect(last.state).toBe('scheduled');
  // Reset to the default (1,000 here).
  expect((await scheduler.api.request('scheduler.cmd.quota.set.v1', { caller: operator(), tenantId: tenant, overrides: { pids: null } })).limits.pids).toBe(1_000);
});

it('holds the pids quota under concurrent creates, batched and alone: exactly as many fit as the limit allows', async () => {
  const tenant = randomUUID();
  await scheduler.api.request('scheduler.cmd.quota.set.v1', { caller: operator(), tenantId: tenant, overrides: { pids: 100, workloads: 50 } });
  // Half ride in a create batch (group commit), half go alone (an affinity group): both charge the quota with the claim.
  const results = await Promise.allSettled(
    Array.from({ length: 12 }, (_, i) =>
      scheduler.api.request('scheduler.cmd.workload.create.v1', {
        caller: callerOf(tenant),
        spec: { name: `c-${i}`, kind: 'container', image: IMAGE, resources: { cpuMillis: 10, memoryMiB: 8, pids: 30 }, ...(i % 2 === 1 ? { placement: { affinityGroup: 'pids' } } : {}) },
      }),
    ),
  );
  const created = results.filter((r) => r.status === 'fulfilled');
  const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  expect(created).toHaveLength(3);
  expect(refused).toHaveLength(9);
  for (const r of refused) expect(r.reason).toMatchObject({ code: ErrorCode.QuotaExceeded, details: { quota: 'pids', limit: 100 } });
  const quota = await scheduler.api.request('scheduler.cmd.quota.get.v1', { caller: callerOf(tenant) });
  expect(quota.used.pids).toBe(90);
  const { rows } = await scheduler.db.query(`SELECT coalesce(sum(pids), 0)::int AS pids FROM scheduler.workloads WHERE tenant_id = $1 AND state <> 'deleted'`, [tenant]);
  expect(rows[0].pids).toBe(90);
});

it('refuses quota commands from a non-operator caller shape', async () => {
  const tenant = randomUUID();
  const error = await refusal(
    scheduler.api.request('scheduler.cmd.quota.set.v1', { caller: callerOf(tenant) as unknown as OperatorCaller, tenantId: tenant, overrides: { workloads: 1000 } }),
  );
  expect(error.code).toBe(ErrorCode.ValidationFailed);
});

it('explains a placement: filters, scores and the choice, as if the workload were not placed', async () => {
  const tenant = randomUUID();
  const placed = await scheduler.api.request('scheduler.cmd.workload.create.v1', {
    caller: callerOf(tenant),
    spec: { name: 'explained', kind: 'container', image: IMAGE, resources: { cpuMillis: 10, memoryMiB: 8, pids: 8 }, placement: { constraints: ['zone=test'] } },
  });
  expect(placed).toMatchObject({ state: 'scheduled', hostId: 'node-q', placement: { constraints: ['zone=test'] } });
  const explanation = await scheduler.api.request('scheduler.cmd.placement.explain.v1', { caller: operator(), workloadId: placed.id });
  expect(explanation).toMatchObject({ workloadId: placed.id, hostId: 'node-q', policy: 'binpack', hostsConsidered: 1, choice: 'node-q' });
  expect(explanation.scores.map((score) => score.hostId)).toEqual(['node-q']);

  const elsewhere = await scheduler.api.request('scheduler.cmd.workload.create.v1', {
    caller: callerOf(tenant),
    spec: { name: 'nowhere', kind: 'container', image: IMAGE, resources: { cpuMillis: 10, memoryMiB: 8, pids: 8 }, placement: { constraints: ['zone=mars'] } },
  });
  expect(elsewhere).toMatchObject({ state: 'pending', reason: 'no ready host satisfies zone=mars' });
  const why = await scheduler.api.request('scheduler.cmd.placement.explain.v1', { caller: operator(), workloadId: elsewhere.id });
  expect(why.choice).toBeNull();
  expect(why.filters.find((f) => f.filter === 'constraints')?.removed).toEqual([{ hostId: 'node-q', detail: 'does not satisfy zone=mars' }]);
});

it('applies dedication and label constraints in the SQL candidate query exactly like the pure filters', async () => {
  const tenant = randomUUID();
  const spec = (name: string, placement: object) => ({ name, kind: 'container' as const, image: IMAGE, resources: { cpuMillis: 10, memoryMiB: 8, pids: 8 }, placement });
  const create = (name: string, placement: object) => scheduler.api.request('scheduler.cmd.workload.create.v1', { caller: callerOf(tenant), spec: spec(name, placement) });
  await scheduler.api.request('scheduler.cmd.quota.set.v1', { caller: operator(), tenantId: tenant, overrides: { workloads: 20 } });

  expect(await create('wants-dedicated', { dedicated: true })).toMatchObject({ state: 'pending', reason: 'no ready host is dedicated to this tenant' });
  expect(await create('no-zone', { constraints: ['!zone'] })).toMatchObject({ state: 'pending', reason: 'no ready host satisfies !zone' });
  expect(await create('not-test', { constraints: ['zone!=test'] })).toMatchObject({ state: 'pending' });
  expect(await create('has-zone', { constraints: ['zone', 'zone!=mars'] })).toMatchObject({ state: 'scheduled', hostId: 'node-q' });

  // Dedicate the host to this tenant: its dedicated workload is placed, another tenant's is not.
  agent.stopHeartbeating();
  await agent.heartbeat(agent.heartbeatPayload({ labels: { zone: 'test', 'gureum.io/dedicated': tenant } }));
  await waitFor(async () => (await scheduler.db.query(`SELECT 1 FROM scheduler.hosts WHERE labels ? 'gureum.io/dedicated'`)).rowCount === 1, { timeoutMs: 5000, what: 'the label' });
  try {
    expect(await create('dedicated-now', { dedicated: true })).toMatchObject({ state: 'scheduled', hostId: 'node-q' });
    const other = await scheduler.api.request('scheduler.cmd.workload.create.v1', { caller: callerOf(randomUUID()), spec: spec('intruder', {}) });
    expect(other).toMatchObject({ state: 'pending', reason: 'every ready host is dedicated to another tenant' });
  } finally {
    await agent.heartbeat();
    agent.keepHeartbeating(300);
  }
});
