import { randomUUID } from 'node:crypto';
import { ErrorCode, GureumError, type OperatorCaller, type WorkloadView } from '@gureum/contracts';
import { createTestDatabase, startNats, waitFor, type TestDatabase, type TestNats } from '@gureum/testing';
import { Client } from 'pg';
import { FakeAgent } from '../testing/fake-agent';
import { callerOf, startSchedulerUnderTest, type SchedulerUnderTest } from '../testing/scheduler-under-test';

/**
 * The batch path of creates (group commit): many creates in one transaction, each settled on
 * its own under the same locks — a quota refusal, a replay or a host that stopped fitting
 * touches only that member.
 */

const IMAGE = 'gureum/batch:1';
const OTHER_IMAGE = 'gureum/only-on-c:1';

let database: TestDatabase;
let nats: TestNats;
let scheduler: SchedulerUnderTest;
const agents: FakeAgent[] = [];

beforeAll(async () => {
  database = await createTestDatabase('scheduler_create_batch');
  nats = await startNats({ agents: ['node-a', 'node-b', 'node-c'] });
  scheduler = await startSchedulerUnderTest({ databaseUrl: database.url, natsUrl: nats.url, control: nats.control, hostLostAfterMissed: 120 });
  const big = { cpuMillis: 64_000, memoryMiB: 262_144, pids: 1_000_000 };
  for (const [nodeId, images] of [
    ['node-a', [IMAGE]],
    ['node-b', [IMAGE]],
    ['node-c', [OTHER_IMAGE]],
  ] as const) {
    const agent = await FakeAgent.connect({ natsUrl: nats.url, nodeId, credentials: nats.agent(nodeId), capacity: big, images: [...images] });
    agent.keepHeartbeating(500);
    agents.push(agent);
  }
  await waitFor(async () => (await scheduler.db.query(`SELECT count(*)::int AS n FROM scheduler.hosts`)).rows[0].n === 3, { timeoutMs: 10_000, what: 'hosts to register' });
}, 60_000);

afterAll(async () => {
  for (const agent of agents) await agent.close();
  await scheduler?.close();
  await nats?.stop();
  await database?.drop();
});

const spec = (name: string, overrides: Record<string, unknown> = {}) => ({ name, kind: 'container' as const, image: IMAGE, resources: { cpuMillis: 100, memoryMiB: 64, pids: 8 }, ...overrides });

type Answer = { ok: true; view: WorkloadView } | { ok: false; error: GureumError };

/** Sends every create at once (one NATS connection, in order) and waits for all answers. */
function createAll(requests: Array<{ tenantId: string; name: string; key?: string; overrides?: Record<string, unknown> }>): Promise<Answer[]> {
  return Promise.all(
    requests.map(({ tenantId, name, key, overrides }) =>
      scheduler.api
        .request('scheduler.cmd.workload.create.v1', { caller: callerOf(tenantId), spec: spec(name, overrides), ...(key ? { idempotencyKey: key } : {}) })
        .then(
          (view): Answer => ({ ok: true, view }),
          (error: unknown): Answer => {
            if (error instanceof GureumError) return { ok: false, error };
            throw error;
          },
        ),
    ),
  );
}

function batchesSince(mark: number): Array<{ size: number; placed: number; replayed: number; refused: number; noRoom: number }> {
  return scheduler.logs.slice(mark).filter((line) => line.msg === 'create batch committed') as never;
}

/** Until a batch's statement (by its leading comment) waits for a row lock in PostgreSQL. */
async function batchStatementWaitsForLock(statement: 'lock' | 'write', what: string): Promise<void> {
  await waitFor(
    async () =>
      (
        await scheduler.db.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1`,
          [`/* create batch: ${statement} */%`],
        )
      ).rows[0].n > 0,
    { timeoutMs: 10_000, what },
  );
}

async function assertHostsMatchClaims(): Promise<void> {
  const { rows } = await scheduler.db.query(
    `SELECT h.id, h.allocated_cpu_millis AS cpu, h.allocated_memory_mib AS mem, h.allocated_pids AS pids,
            coalesce(sum(c.cpu_millis), 0)::int AS claim_cpu, coalesce(sum(c.memory_mib), 0)::int AS claim_mem, coalesce(sum(c.pids), 0)::int AS claim_pids
       FROM scheduler.hosts h LEFT JOIN scheduler.claims c ON c.host_id = h.id GROUP BY h.id`,
  );
  for (const row of rows) expect({ id: row.id, cpu: row.cpu, mem: row.mem, pids: row.pids }).toEqual({ id: row.id, cpu: row.claim_cpu, mem: row.claim_mem, pids: row.claim_pids });
}

it('a mixed batch: the members over their tenant quota fail alone, in arrival order, and leave nothing behind', async () => {
  const tight = randomUUID();
  const roomy = randomUUID();
  const operator: OperatorCaller = { principalId: 'op', role: 'operator', requestId: randomUUID() };
  await scheduler.api.request('scheduler.cmd.quota.set.v1', { caller: operator, tenantId: tight, overrides: { workloads: 3 } });
  const mark = scheduler.logs.length;

  // Interleaved: tight-0, roomy-0, tight-1, roomy-1, …
  const requests = Array.from({ length: 12 }, (_, i) => ({ tenantId: i % 2 === 0 ? tight : roomy, name: `mix-${i}`, key: `mix-${i}` }));
  const answers = await createAll(requests);

  // At least one batch carried several members (the point of this test).
  expect(batchesSince(mark).some((batch) => batch.size > 1 && batch.refused > 0 && batch.placed > 0)).toBe(true);
  const tightAnswers = answers.filter((_, i) => requests[i]!.tenantId === tight);
  const roomyAnswers = answers.filter((_, i) => requests[i]!.tenantId === roomy);
  for (const answer of roomyAnswers) expect(answer.ok && answer.view.state).toBe('scheduled');
  // Decided per member in arrival order: the first three of the tight tenant fit, the rest do not.
  expect(tightAnswers.map((answer) => (answer.ok ? answer.view.state : answer.error.code))).toEqual([
    'scheduled',
    'scheduled',
    'scheduled',
    ErrorCode.QuotaExceeded,
    ErrorCode.QuotaExceeded,
    ErrorCode.QuotaExceeded,
  ]);
  for (const answer of tightAnswers.slice(3)) {
    expect(!answer.ok && answer.error.details).toEqual({ quota: 'workloads', limit: 3, used: 3, requested: 1 });
  }

  // Nothing of a refused member was written: no row, no history, no outbox event; use = what lives.
  const db = scheduler.db;
  const { rows: stored } = await db.query(`SELECT idempotency_key AS key FROM scheduler.workloads WHERE tenant_id = $1 ORDER BY key`, [tight]);
  expect(stored.map((row: { key: string }) => row.key)).toEqual(['mix-0', 'mix-2', 'mix-4']);
  const { rows: usage } = await db.query(`SELECT tenant_id, workloads, cpu_millis::int AS cpu FROM scheduler.quota_usage WHERE tenant_id = ANY($1::uuid[]) ORDER BY workloads`, [[tight, roomy]]);
  expect(usage.map((row: { workloads: number; cpu: number }) => [row.workloads, row.cpu])).toEqual([
    [3, 300],
    [6, 600],
  ]);
  const ids = answers.flatMap((answer) => (answer.ok ? [answer.view.id] : []));
  const { rows: events } = await db.query(
    `SELECT e.workload_id, e.from_state, e.to_state, e.host_id, o.payload FROM scheduler.workload_events e JOIN scheduler.outbox o ON o.message_id = e.event_id
      WHERE e.workload_id = ANY($1::uuid[]) ORDER BY o.seq`,
    [ids],
  );
  // One opening event each, on its host: a batch inserts its workloads `scheduled`, never `pending` first.
  expect(events).toHaveLength(ids.length);
  for (const id of ids) {
    const mine = events.filter((row: { workload_id: string }) => row.workload_id === id);
    expect(mine.map((row: { from_state: string | null; to_state: string; host_id: string | null }) => [row.from_state, row.to_state, row.host_id === null])).toEqual([[null, 'scheduled', false]]);
    expect(mine[0].payload).toMatchObject({ workloadId: id, from: null, to: 'scheduled', hostId: mine[0].host_id, generation: 0 });
  }
  const { rows: orphans } = await db.query(
    `SELECT count(*)::int AS n, array_agg(DISTINCT subject) AS subjects FROM scheduler.outbox o WHERE o.subject = 'evt.workload.state.v1' AND NOT EXISTS (SELECT 1 FROM scheduler.workload_events e WHERE e.event_id = o.message_id)`,
  );
  expect(orphans[0]).toEqual({ n: 0, subjects: null });
  await assertHostsMatchClaims();
});

it('a batch charges the pids quota with the claim: members over it fail alone and the use equals what lives', async () => {
  const tight = randomUUID();
  const roomy = randomUUID();
  const operator: OperatorCaller = { principalId: 'op', role: 'operator', requestId: randomUUID() };
  // 8 pids per member (the spec above): two fit in 20, the third would make 24.
  await scheduler.api.request('scheduler.cmd.quota.set.v1', { caller: operator, tenantId: tight, overrides: { pids: 20 } });
  const mark = scheduler.logs.length;
  const requests = Array.from({ length: 10 }, (_, i) => ({ tenantId: i % 2 === 0 ? tight : roomy, name: `pids-${i}`, key: `pids-${i}` }));
  const answers = await createAll(requests);
  expect(batchesSince(mark).some((batch) => batch.size > 1 && batch.refused > 0 && batch.placed > 0)).toBe(true);
  const tightAnswers = answers.filter((_, i) => requests[i]!.tenantId === tight);
  expect(tightAnswers.map((answer) => (answer.ok ? answer.view.state : answer.error.code))).toEqual(['scheduled', 'scheduled', ErrorCode.QuotaExceeded, ErrorCode.QuotaExceeded, ErrorCode.QuotaExceeded]);
  for (const answer of tightAnswers.slice(2)) expect(!answer.ok && answer.error.details).toEqual({ quota: 'pids', limit: 20, used: 16, requested: 8 });
  const { rows: usage } = await scheduler.db.query(
    `SELECT u.tenant_id, u.pids::int AS pids, (SELECT coalesce(sum(w.pids), 0)::int FROM scheduler.workloads w WHERE w.tenant_id = u.tenant_id AND w.state <> 'deleted') AS live
       FROM scheduler.quota_usage u WHERE u.tenant_id = ANY($1::uuid[]) ORDER BY u.pids`,
    [[tight, roomy]],
  );
  expect(usage.map((row: { pids: number; live: number }) => [row.pids, row.live])).toEqual([
    [16, 16],
    [40, 40],
  ]);
  await assertHostsMatchClaims();
});

it('an idempotent retry inside the same batch and across batches is one workload; another spec under the key is a conflict', async () => {
  const tenant = randomUUID();
  const mark = scheduler.logs.length;
  const answers = await createAll([
    { tenantId: tenant, name: 'same', key: 'retry-1' },
    { tenantId: tenant, name: 'other-0', key: 'retry-other-0' },
    { tenantId: tenant, name: 'same', key: 'retry-1' },
    { tenantId: tenant, name: 'other-1', key: 'retry-other-1' },
    { tenantId: tenant, name: 'same', key: 'retry-1' },
  ]);
  expect(batchesSince(mark).length).toBeGreaterThan(0);
  for (const answer of answers) expect(answer.ok).toBe(true);
  const sameIds = new Set([answers[0], answers[2], answers[4]].map((answer) => answer.ok && answer.view.id));
  expect(sameIds.size).toBe(1);

  // Later, in a batch of its own with others: the same answer.
  const later = await createAll([
    { tenantId: tenant, name: 'other-2', key: 'retry-other-2' },
    { tenantId: tenant, name: 'same', key: 'retry-1' },
    { tenantId: tenant, name: 'changed', key: 'retry-1' },
  ]);
  expect(later[0]!.ok).toBe(true);
  expect(later[1]!.ok && later[1]!.view.id).toBe([...sameIds][0]);
  expect(!later[2]!.ok && later[2]!.error.code).toBe(ErrorCode.Conflict);

  const { rows } = await scheduler.db.query(`SELECT idempotency_key AS key, count(*)::int AS n FROM scheduler.workloads WHERE tenant_id = $1 GROUP BY 1 ORDER BY 1`, [tenant]);
  expect(rows).toEqual([
    { key: 'retry-1', n: 1 },
    { key: 'retry-other-0', n: 1 },
    { key: 'retry-other-1', n: 1 },
    { key: 'retry-other-2', n: 1 },
  ]);
  const { rows: usage } = await scheduler.db.query(`SELECT workloads FROM scheduler.quota_usage WHERE tenant_id = $1`, [tenant]);
  expect(usage[0].workloads).toBe(4);
  await assertHostsMatchClaims();
});

it('a key a concurrent create holds uncommitted: the batch waits at its write, then answers a replay and writes nothing of it', async () => {
  const tenant = randomUUID();
  const heldId = randomUUID();
  const other = new Client({ connectionString: database.url });
  await other.connect();
  try {
    // Another writer (standing in for a single create on another replica) inserted the key's
    // workload and has not committed: the batch's lock statement cannot see it.
    await other.query('BEGIN');
    await other.query(
      `INSERT INTO scheduler.workloads (id, tenant_id, name, kind, image, cpu_millis, memory_mib, pids, state, desired_state, generation, idempotency_key, priority, preemptible)
       VALUES ($1, $2, 'held', 'container', $3, 100, 64, 8, 'pending', 'running', 0, 'held-1', 0, false)`,
      [heldId, tenant, IMAGE],
    );
    const mark = scheduler.logs.length;
    const answers = createAll([
      { tenantId: tenant, name: 'beside', key: 'beside-1' },
      { tenantId: tenant, name: 'held', key: 'held-1' },
    ]);
    await batchStatementWaitsForLock('write', 'the batch write to wait for the key');
    await other.query('COMMIT');
    const [beside, held] = await answers;
    expect(beside!.ok && beside!.view.state).toBe('scheduled');
    // The same spec under the key: the winner's workload, as it is (pending, no host).
    expect(held!.ok && [held!.view.id, held!.view.state, held!.view.hostId]).toEqual([heldId, 'pending', null]);
    expect(batchesSince(mark).some((line) => line.replayed > 0 && line.placed > 0)).toBe(true);
  } finally {
    await other.query('ROLLBACK').catch(() => undefined);
    await other.end();
  }
  // Nothing of the replayed member was written: no second row, no claim, no event, no charge.
  const { rows } = await scheduler.db.query(`SELECT idempotency_key AS key, count(*)::int AS n FROM scheduler.workloads WHERE tenant_id = $1 GROUP BY 1 ORDER BY 1`, [tenant]);
  expect(rows).toEqual([
    { key: 'beside-1', n: 1 },
    { key: 'held-1', n: 1 },
  ]);
  expect((await scheduler.db.query(`SELECT count(*)::int AS n FROM scheduler.claims WHERE workload_id = $1`, [heldId])).rows[0].n).toBe(0);
  expect((await scheduler.db.query(`SELECT count(*)::int AS n FROM scheduler.workload_events WHERE workload_id = $1`, [heldId])).rows[0].n).toBe(0);
  const { rows: usage } = await scheduler.db.query(`SELECT workloads, cpu_millis::int AS cpu FROM scheduler.quota_usage WHERE tenant_id = $1`, [tenant]);
  expect(usage).toEqual([{ workloads: 1, cpu: 100 }]);
  await assertHostsMatchClaims();
});

describe('a host that stops fitting between the ranking and the lock', () => {
  /**
   * Another writer (standing in for another replica) fills a host inside a transaction the
   * test holds open; the batch ranks on its picture (the host looks empty), then waits for
   * the host's row lock; the test commits; the batch sees the full host under the lock.
   */
  async function fillWhileBatchWaits(hostId: string, requests: Parameters<typeof createAll>[0]): Promise<Answer[]> {
    const other = new Client({ connectionString: database.url });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query(
        `UPDATE scheduler.hosts SET allocated_cpu_millis = capacity_cpu_millis * 4, allocated_memory_mib = capacity_memory_mib, generation = generation + 1 WHERE id = $1`,
        [hostId],
      );
      const answers = createAll(requests);
      await batchStatementWaitsForLock('lock', 'the batch to wait for the host lock');
      await other.query('COMMIT');
      return await answers;
    } finally {
      await other.query('ROLLBACK').catch(() => undefined);
      await other.end();
    }
  }

  /** Gives a filled host its room back (the fill had no claims behind it). */
  async function unfill(hostId: string): Promise<void> {
    await scheduler.db.query(
      `UPDATE scheduler.hosts h SET allocated_cpu_millis = (SELECT coalesce(sum(cpu_millis), 0) FROM scheduler.claims c WHERE c.host_id = h.id),
              allocated_memory_mib = (SELECT coalesce(sum(memory_mib), 0) FROM scheduler.claims c WHERE c.host_id = h.id) WHERE id = $1`,
      [hostId],
    );
  }

  async function allocation(hostId: string): Promise<{ cpu: number; mem: number }> {
    const { rows } = await scheduler.db.query(`SELECT allocated_cpu_millis AS cpu, allocated_memory_mib AS mem FROM scheduler.hosts WHERE id = $1`, [hostId]);
    return rows[0];
  }

  it('moves the members to the next candidate under the same lock, never onto the full host', async () => {
    const tenant = randomUUID();
    // Binpack ranks the fuller host first; make sure that is node-a.
    const { rows } = await scheduler.db.query(`SELECT id, allocated_cpu_millis FROM scheduler.hosts WHERE id IN ('node-a', 'node-b') ORDER BY allocated_cpu_millis DESC, id`);
    const first = rows[0].id as string;
    const before = await allocation(first);
    const answers = await fillWhileBatchWaits(
      first,
      Array.from({ length: 6 }, (_, i) => ({ tenantId: tenant, name: `moved-${i}`, key: `moved-${i}` })),
    );
    for (const answer of answers) {
      expect(answer.ok && answer.view.state).toBe('scheduled');
      expect(answer.ok && answer.view.hostId).not.toBe(first);
    }
    // The full host got nothing from the batch: exactly the other writer's fill.
    const after = await allocation(first);
    expect(after.cpu).toBe(64_000 * 4);
    expect(before.cpu).toBeLessThan(after.cpu);
    await unfill(first);
    await assertHostsMatchClaims();
  });

  it('retries a member whose only host filled up, then hands it to the single path (pending), never overcommitting', async () => {
    const tenant = randomUUID();
    const mark = scheduler.logs.length;
    const answers = await fillWhileBatchWaits('node-c', [
      { tenantId: tenant, name: 'only-c', key: 'only-c', overrides: { image: OTHER_IMAGE } },
      { tenantId: tenant, name: 'anywhere', key: 'anywhere' },
    ]);
    expect(batchesSince(mark).some((batch) => batch.noRoom > 0)).toBe(true);
    const [onlyC, anywhere] = answers;
    expect(anywhere!.ok && anywhere!.view.state).toBe('scheduled');
    expect(onlyC!.ok && [onlyC!.view.state, onlyC!.view.hostId, onlyC!.view.reason]).toEqual(['pending', null, expect.stringMatching(/no ready host has room/)]);
    expect((await allocation('node-c')).cpu).toBe(64_000 * 4);
    // Exactly one row under its key, holding its quota although pending (as a single create does).
    const { rows } = await scheduler.db.query(`SELECT state FROM scheduler.workloads WHERE tenant_id = $1 AND idempotency_key = 'only-c'`, [tenant]);
    expect(rows).toEqual([{ state: 'pending' }]);
    const { rows: usage } = await scheduler.db.query(`SELECT workloads FROM scheduler.quota_usage WHERE tenant_id = $1`, [tenant]);
    expect(usage[0].workloads).toBe(2);
    await unfill('node-c');
    await assertHostsMatchClaims();
  });
});
