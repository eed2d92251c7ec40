import { randomUUID } from 'node:crypto';
import { ErrorCode, GureumError, type OperatorCaller, type WorkloadView } from '@gureum/contracts';
import { createTestDatabase, startNats, waitFor, type TestDatabase, type TestNats } from '@gureum/testing';
import { FakeAgent } from '../testing/fake-agent';
import { callerOf, startSchedulerUnderTest, type SchedulerUnderTest } from '../testing/scheduler-under-test';
import { DEFAULT_PLACEMENT_SETTINGS, type PlacementSettings } from './placement';

/**
 * Three scheduler replicas in one NATS queue group, one database, 500 concurrent creates
 * against tight quotas and tight capacity. Whatever the interleaving: no host and no quota is
 * ever exceeded, anti-affinity holds, and every create is answered exactly once — placed,
 * pending, or refused over quota — with retries (same idempotency key) never duplicating.
 */

const IMAGE = 'gureum/herd:1';
const HOSTS = ['node-1', 'node-2', 'node-3', 'node-4'];
const TENANTS = Array.from({ length: 5 }, () => randomUUID());
// CPU overcommit 2×, memory exact, 200m reserved per host: effective 2 × (1000 − 200) = 1600m, 1024 MiB.
const SETTINGS: PlacementSettings = {
  ...DEFAULT_PLACEMENT_SETTINGS,
  allocationRatios: { cpuMillis: 2, memoryMiB: 1, pids: 1 },
  reserved: { cpuMillis: 200, memoryMiB: 0, pids: 0 },
};
const QUOTAS = { cpuMillis: 100_000, memoryMiB: 1_600, pids: 1_000_000, workloads: 40, vms: 0 };

let database: TestDatabase;
let nats: TestNats;
const replicas: SchedulerUnderTest[] = [];
const agents: FakeAgent[] = [];

beforeAll(async () => {
  database = await createTestDatabase('scheduler_replicas');
  nats = await startNats({ agents: HOSTS });
  for (let i = 0; i < 3; i += 1) {
    replicas.push(
      await startSchedulerUnderTest({
        databaseUrl: database.url,
        natsUrl: nats.url,
        control: nats.control,
        // Two of the three prefer a shard each (GUREUM_PLACEMENT_SHARD), the third ranks the
        // whole fleet: whatever each one ranks first, the locks decide.
        placement: i < 2 ? { ...SETTINGS, shard: { index: i, count: 2 } } : SETTINGS,
        defaultQuotas: QUOTAS,
        skipMigrations: i > 0,
        // Heartbeats queue for pool connections behind 500 creates on a shared 2-core box;
        // host loss is not what this test is about.
        hostLostAfterMissed: 120,
        // The placement loops of all three also race for the pending workloads meanwhile.
        placementRetryIntervalMs: 200,
      }),
    );
  }
  for (const nodeId of HOSTS) {
    const agent = await FakeAgent.connect({ natsUrl: nats.url, nodeId, credentials: nats.agent(nodeId), capacity: { cpuMillis: 1000, memoryMiB: 1024, pids: 10_000 }, images: [IMAGE] });
    agent.keepHeartbeating(500);
    agents.push(agent);
  }
  await waitFor(async () => (await replicas[0]!.db.query(`SELECT count(*)::int AS n FROM scheduler.hosts`)).rows[0].n === HOSTS.length, {
    timeoutMs: 10_000,
    what: 'every host to register',
  });
}, 60_000);

afterAll(async () => {
  for (const agent of agents) await agent.close();
  for (const replica of replicas) await replica.close();
  await nats?.stop();
  await database?.drop();
});

type Outcome = { kind: 'view'; key: string; view: WorkloadView } | { kind: 'quota'; key: string; details: Record<string, unknown> };

it('500 concurrent creates on three replicas: zero overcommit of hosts and quotas, none lost or duplicated', async () => {
  // One tenant gets a tighter memory quota, another a workload quota of 10.
  const operator: OperatorCaller = { principalId: 'op', role: 'operator', requestId: randomUUID() };
  await replicas[0]!.api.request('scheduler.cmd.quota.set.v1', { caller: operator, tenantId: TENANTS[3]!, overrides: { memoryMiB: 300 } });
  await replicas[0]!.api.request('scheduler.cmd.quota.set.v1', { caller: operator, tenantId: TENANTS[4]!, overrides: { workloads: 10 } });

  // 450 distinct creates plus 50 retries of some of them (same key, same spec), all at once,
  // sent through each replica's connection in turn (the queue group picks who serves).
  const requests = Array.from({ length: 450 }, (_, i) => {
    const tenant = TENANTS[i % TENANTS.length]!;
    const antiAffinity = i % 9 === 0;
    return {
      key: `create-${i}`,
      tenant,
      spec: {
        name: `w-${i}`,
        kind: 'container' as const,
        image: IMAGE,
        resources: { cpuMillis: 50 + (i % 4) * 50, memoryMiB: 16 + (i % 3) * 16, pids: 4 },
        ...(antiAffinity ? { placement: { antiAffinityGroup: 'ha' } } : {}),
      },
    };
  });
  const all = [...requests, ...requests.filter((_, i) => i % 9 === 1)];
  expect(all).toHaveLength(500);

  const outcomes = await Promise.all(
    all.map(async (request, i): Promise<Outcome> => {
      const bus = replicas[i % replicas.length]!.api;
      try {
        const view = await bus.request('scheduler.cmd.workload.create.v1', { caller: callerOf(request.tenant), spec: request.spec, idempotencyKey: request.key }, { timeoutMs: 60_000 });
        return { kind: 'view', key: request.key, view };
      } catch (error) {
        if (error instanceof GureumError && error.code === ErrorCode.QuotaExceeded) return { kind: 'quota', key: request.key, details: error.details ?? {} };
        throw error;
      }
    }),
  );

  // Every create answered, as placed, pending, or refused over quota.
  expect(outcomes).toHaveLength(500);
  const views = outcomes.filter((o): o is Extract<Outcome, { kind: 'view' }> => o.kind === 'view');
  for (const { view } of views) expect(['scheduled', 'pending']).toContain(view.state);
  const refused = outcomes.filter((o) => o.kind === 'quota');
  expect(refused.length).toBeGreaterThan(0);
  for (const { details } of refused as Array<Extract<Outcome, { kind: 'quota' }>>) {
    expect(['cpuMillis', 'memoryMiB', 'workloads']).toContain(details['quota']);
    expect((details['used'] as number) + (details['requested'] as number)).toBeGreaterThan(details['limit'] as number);
  }

  // No duplicates: one row per accepted key; a retry answered with the same workload.
  const db = replicas[0]!.db;
  const { rows: keys } = await db.query(`SELECT idempotency_key, count(*)::int AS n FROM scheduler.workloads GROUP BY idempotency_key HAVING count(*) > 1`);
  expect(keys).toEqual([]);
  const idsByKey = new Map<string, Set<string>>();
  for (const { key, view } of views) idsByKey.set(key, (idsByKey.get(key) ?? new Set()).add(view.id));
  for (const ids of idsByKey.values()) expect(ids.size).toBe(1);
  // None lost: every accepted key has its row, and no row exists for a key that was only refused.
  const { rows: stored } = await db.query(`SELECT idempotency_key AS key FROM scheduler.workloads`);
  expect(new Set(stored.map((row: { key: string }) => row.key))).toEqual(new Set(idsByKey.keys()));

  // All three replicas served creates, and most of them in batches (group commit) settled
  // under the same locks, with quota refusals inside batches.
  for (const replica of replicas) expect(replica.logs.some((line) => line.msg === 'workload created')).toBe(true);
  const batches = replicas.flatMap((replica) => replica.logs.filter((line) => line.msg === 'create batch committed')) as unknown as Array<{ size: number; refused: number }>;
  expect(batches.some((batch) => batch.size > 1)).toBe(true);
  expect(batches.some((batch) => batch.refused > 0)).toBe(true);

  await assertNoOvercommit(db);
  // The placement loops of three replicas keep racing for the pending ones; still nothing overcommitted.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await assertNoOvercommit(db);
}, 120_000);

async function assertNoOvercommit(db: SchedulerUnderTest['db']): Promise<void> {
  // Host allocation equals the sum of its claims and stays within (capacity − reserved) × ratio.
  const { rows: hosts } = await db.query(
    `SELECT h.id, h.allocated_cpu_millis AS cpu, h.allocated_memory_mib AS mem, h.allocated_pids AS pids,
            coalesce(sum(c.cpu_millis), 0)::int AS claim_cpu, coalesce(sum(c.memory_mib), 0)::int AS claim_mem, coalesce(sum(c.pids), 0)::int AS claim_pids,
            h.capacity_cpu_millis AS cap_cpu, h.capacity_memory_mib AS cap_mem
       FROM scheduler.hosts h LEFT JOIN scheduler.claims c ON c.host_id = h.id GROUP BY h.id ORDER BY h.id`,
  );
  let placed = 0;
  for (const host of hosts) {
    expect({ id: host.id, cpu: host.cpu, mem: host.mem, pids: host.pids }).toEqual({ id: host.id, cpu: host.claim_cpu, mem: host.claim_mem, pids: host.claim_pids });
    expect(host.cpu).toBeLessThanOrEqual(Math.floor((host.cap_cpu - 200) * 2));
    expect(host.mem).toBeLessThanOrEqual(host.cap_mem);
    placed += host.cpu;
  }
  // Tight capacity: the fleet is (nearly) full, not merely lightly used.
  expect(placed).toBeGreaterThan(HOSTS.length * 1600 * 0.9);

  // Every scheduled workload holds exactly one claim, on the host it names.
  const { rows: mismatched } = await db.query(
    `SELECT w.id, w.state, w.host_id, c.host_id AS claim_host FROM scheduler.workloads w LEFT JOIN scheduler.claims c ON c.workload_id = w.id
      WHERE (w.state = 'scheduled') <> (c.workload_id IS NOT NULL) OR (c.host_id IS DISTINCT FROM w.host_id AND c.workload_id IS NOT NULL)`,
  );
  expect(mismatched).toEqual([]);

  // Anti-affinity: at most one member of group "ha" per host, per tenant.
  const { rows: crowded } = await db.query(
    `SELECT tenant_id, host_id, count(*)::int AS n FROM scheduler.workloads
      WHERE anti_affinity_group = 'ha' AND host_id IS NOT NULL AND state <> 'deleted' GROUP BY tenant_id, host_id HAVING count(*) > 1`,
  );
  expect(crowded).toEqual([]);

  // Quota use equals what live workloads hold, and never exceeds the limits.
  const { rows: usage } = await db.query(
    `SELECT t.tenant_id, u.cpu_millis::int AS cpu, u.memory_mib::int AS mem, u.workloads,
            coalesce(q.memory_mib, $1)::int AS mem_limit, coalesce(q.workloads, $2)::int AS wl_limit,
            (SELECT coalesce(sum(cpu_millis), 0)::int FROM scheduler.workloads w WHERE w.tenant_id = t.tenant_id AND w.state <> 'deleted') AS live_cpu,
            (SELECT coalesce(sum(memory_mib), 0)::int FROM scheduler.workloads w WHERE w.tenant_id = t.tenant_id AND w.state <> 'deleted') AS live_mem,
            (SELECT count(*)::int FROM scheduler.workloads w WHERE w.tenant_id = t.tenant_id AND w.state <> 'deleted') AS live_n
       FROM (SELECT DISTINCT tenant_id FROM scheduler.workloads) t
       JOIN scheduler.quota_usage u ON u.tenant_id = t.tenant_id
       LEFT JOIN scheduler.tenant_quotas q ON q.tenant_id = t.tenant_id`,
    [QUOTAS.memoryMiB, QUOTAS.workloads],
  );
  expect(usage).toHaveLength(TENANTS.length);
  for (const row of usage) {
    expect({ cpu: row.cpu, mem: row.mem, n: row.workloads }).toEqual({ cpu: row.live_cpu, mem: row.live_mem, n: row.live_n });
    expect(row.mem).toBeLessThanOrEqual(row.mem_limit);
    expect(row.workloads).toBeLessThanOrEqual(row.wl_limit);
  }
}
