import { randomUUID } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import { GureumError, type Caller, type OperatorCaller, type UsageReply, type UsageSample, type WorkloadStateChanged } from '@gureum/contracts';
import { connectNats, type NatsConnection } from '@gureum/messaging';
import { createTestDatabase, startNats, waitFor, type TestDatabase, type TestNats } from '@gureum/testing';
import pino from 'pino';
import { createMeteringDataSource } from './database/metering-data-source';
import { RecordRegistryStorageUseCase } from './registry/record-registry-storage.usecase';
import { trimDecimal } from './usage/query-usage.usecase';
import { startMeteringUnderTest, type MeteringUnderTest } from './testing/metering-under-test';

const HOUR = 3_600_000;
const TENANT_A = randomUUID();
const TENANT_B = randomUUID();
/** Three hours ago, on the hour: rollup hours are then known in advance. */
const BASE = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR;
const iso = (ms: number) => new Date(ms).toISOString();

let database: TestDatabase;
let nats: TestNats;
let metering: MeteringUnderTest;
let nodeA: NatsConnection;
let nodeB: NatsConnection;
let control: NatsConnection;

const tenantCaller = (tenantId: string): Caller => ({ principalId: 'key-test', tenantId, role: 'viewer', requestId: randomUUID() });
const operator: OperatorCaller = { principalId: 'op', role: 'operator', requestId: randomUUID() };

function sample(nodeId: string, workloadId: string, atMs: number, cpuNs: bigint, extra: Partial<UsageSample> = {}): UsageSample {
  const handleId = extra.handleId ?? 'handle-1';
  return {
    sampleId: `${workloadId}/${handleId}/${atMs}`,
    nodeId,
    workloadId,
    tenantId: TENANT_A,
    handleId,
    sampledAt: iso(atMs),
    cpuUsageNs: cpuNs.toString(),
    memoryBytes: 1000,
    memoryPeakBytes: 2000,
    pids: 2,
    ...extra,
  };
}

/** What an agent does: a core publish on its own subject with the sample id as Nats-Msg-Id. */
function publish(nc: NatsConnection, nodeId: string, body: UsageSample | string, msgId?: string): void {
  const h = headers();
  h.set('Nats-Msg-Id', msgId ?? (typeof body === 'string' ? randomUUID() : `${nodeId}/${body.sampleId}`));
  nc.publish(`agent.${nodeId}.evt.usage.v1`, typeof body === 'string' ? body : JSON.stringify(body), { headers: h });
}

async function storedSamples(workloadId?: string): Promise<number> {
  const { rows } = await metering.db.query<{ n: string }>(`SELECT count(*) AS n FROM metering.samples WHERE ($1::uuid IS NULL OR workload_id = $1)`, [workloadId ?? null]);
  return Number(rows[0]?.n);
}

async function rollup(workloadId: string, meter: string): Promise<Record<string, string>> {
  const { rows } = await metering.db.query<{ hour: Date; quantity: string }>(
    `SELECT hour, quantity::text AS quantity FROM metering.rollups WHERE workload_id = $1 AND meter = $2 ORDER BY hour`,
    [workloadId, meter],
  );
  return Object.fromEntries(rows.map((r) => [r.hour.toISOString(), trimDecimal(r.quantity)]));
}

async function totalCpuSeconds(workloadId: string): Promise<string> {
  const { rows } = await metering.db.query<{ total: string }>(`SELECT COALESCE(sum(quantity), 0)::text AS total FROM metering.rollups WHERE workload_id = $1 AND meter = 'cpu_seconds'`, [workloadId]);
  return trimDecimal(rows[0]?.total ?? '0');
}

/** What the scheduler's outbox does: a workload state fact on the events stream. */
async function emitState(event: Omit<WorkloadStateChanged, 'eventId' | 'hostId' | 'reason' | 'generation'> & { eventId?: string; hostId?: string | null }): Promise<string> {
  const eventId = event.eventId ?? randomUUID();
  const payload: WorkloadStateChanged = { hostId: 'node-a', reason: null, generation: 1, ...event, eventId };
  await jetstream(control).publish('evt.workload.state.v1', JSON.stringify(payload), { msgID: eventId });
  return eventId;
}

async function storedFacts(workloadId: string): Promise<number> {
  const { rows } = await metering.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM metering.lifecycle_events WHERE workload_id = $1`, [workloadId]);
  return rows[0]?.n ?? 0;
}

/** The scheduler placed `workloadId` on `nodeId` (an hour before BASE, so every sample of a test falls within it); waits until metering has the fact. */
async function place(workloadId: string, nodeId: string, tenantId = TENANT_A, atMs = BASE - HOUR): Promise<void> {
  const before = await storedFacts(workloadId);
  await emitState({ workloadId, tenantId, hostId: nodeId, from: null, to: 'scheduled', at: iso(atMs) });
  await waitFor(async () => ((await storedFacts(workloadId)) > before ? true : undefined), { timeoutMs: 20_000, what: `placement of ${workloadId} on ${nodeId} recorded` });
}

beforeAll(async () => {
  database = await createTestDatabase('metering');
  nats = await startNats({ agents: ['node-a', 'node-b'] });
  metering = await startMeteringUnderTest({ databaseUrl: database.url, natsUrl: nats.url, control: nats.control, ackWaitMs: 2000 });
  const a = nats.agent('node-a');
  const b = nats.agent('node-b');
  nodeA = await connectNats({ url: nats.url, user: a.user, password: a.password, inboxPrefix: a.inboxPrefix, name: 'node-a' });
  nodeB = await connectNats({ url: nats.url, user: b.user, password: b.password, inboxPrefix: b.inboxPrefix, name: 'node-b' });
  control = await connectNats({ url: nats.url, ...nats.control, name: 'test-scheduler' });
});

afterAll(async () => {
  await nodeA?.drain();
  await nodeB?.drain();
  await control?.drain();
  await metering?.close();
  await nats?.stop();
  await database?.drop();
});

describe('sample ingestion', () => {
  it('counts duplicate, redelivered and late samples once, and handles counter resets', async () => {
    const w = randomUUID();
    await place(w, 'node-a');
    const s1 = sample('node-a', w, BASE + 10_000, 1_000_000_000n);
    const s2 = sample('node-a', w, BASE + 20_000, 3_000_000_000n);
    const s4 = sample('node-a', w, BASE + 40_000, 7_000_000_000n);
    publish(nodeA, 'node-a', s1);
    publish(nodeA, 'node-a', s2);
    publish(nodeA, 'node-a', s2); // same Nats-Msg-Id: dropped by the stream
    publish(nodeA, 'node-a', s2, randomUUID()); // outside the stream's dedupe: PostgreSQL's key catches it
    publish(nodeA, 'node-a', s4);
    await waitFor(async () => ((await storedSamples(w)) === 3 ? true : undefined), { timeoutMs: 20_000, what: 'three samples stored' });
    await waitFor(async () => ((await totalCpuSeconds(w)) === '7' ? true : undefined), { timeoutMs: 20_000, what: 'cpu total of 7 s' });

    // A late sample between two stored ones changes how the usage splits, not the total.
    publish(nodeA, 'node-a', sample('node-a', w, BASE + 30_000, 4_000_000_000n));
    // The container restarted in the next hour (counter from zero), then was replaced (new handle).
    publish(nodeA, 'node-a', sample('node-a', w, BASE + HOUR + 10_000, 500_000_000n));
    publish(nodeA, 'node-a', sample('node-a', w, BASE + HOUR + 20_000, 2_500_000_000n));
    publish(nodeA, 'node-a', sample('node-a', w, BASE + HOUR + 30_000, 250_000_000n, { handleId: 'handle-2', memoryPeakBytes: 9000, pids: 7 }));
    await waitFor(async () => ((await storedSamples(w)) === 7 ? true : undefined), { timeoutMs: 20_000, what: 'seven samples stored' });
    await waitFor(async () => ((await totalCpuSeconds(w)) === '9.75' ? true : undefined), { timeoutMs: 20_000, what: 'cpu total after resets' });

    expect(await rollup(w, 'cpu_seconds')).toEqual({ [iso(BASE)]: '7', [iso(BASE + HOUR)]: '2.75' });
    expect(await rollup(w, 'memory_peak_bytes')).toEqual({ [iso(BASE)]: '2000', [iso(BASE + HOUR)]: '9000' });
    expect(await rollup(w, 'pids')).toEqual({ [iso(BASE)]: '2', [iso(BASE + HOUR)]: '7' });
    const { rows } = await metering.db.query<{ d: string }>(`SELECT cpu_delta_ns::text AS d FROM metering.samples WHERE workload_id = $1 ORDER BY sampled_at`, [w]);
    expect(rows.map((r) => r.d)).toEqual(['1000000000', '2000000000', '1000000000', '3000000000', '500000000', '2000000000', '250000000']);
  });

  it('stores ids with backslashes, tabs and newlines exactly (the batch is written through COPY text format)', async () => {
    const w = randomUUID();
    await place(w, 'node-a');
    const handleId = 'h\\N\tx\ny\r';
    const s1 = sample('node-a', w, BASE + 10_000, 1_000_000_000n, { handleId, sampleId: `${w}\\N\t1` });
    const s2 = sample('node-a', w, BASE + 20_000, 4_000_000_000n, { handleId, sampleId: `${w}\\N\t2` });
    publish(nodeA, 'node-a', s1);
    publish(nodeA, 'node-a', s2);
    publish(nodeA, 'node-a', s2, randomUUID()); // the same dedupe key again, with its special characters
    await waitFor(async () => ((await storedSamples(w)) === 2 ? true : undefined), { timeoutMs: 20_000, what: 'two samples stored' });
    await waitFor(async () => ((await totalCpuSeconds(w)) === '4' ? true : undefined), { timeoutMs: 20_000, what: 'cpu total of 4 s' });
    const { rows } = await metering.db.query<{ dedupe_key: string; handle_id: string; d: string }>(
      `SELECT dedupe_key, handle_id, cpu_delta_ns::text AS d FROM metering.samples WHERE workload_id = $1 ORDER BY sampled_at`,
      [w],
    );
    // Same handle both times: the second sample's usage is the difference, not a restart.
    expect(rows).toEqual([
      { dedupe_key: `node-a/${s1.sampleId}`, handle_id: handleId, d: '1000000000' },
      { dedupe_key: `node-a/${s2.sampleId}`, handle_id: handleId, d: '3000000000' },
    ]);
  });

  it('meters network and block bytes as counters: resets, gaps and old agents without them', async () => {
    const w = randomUUID();
    await place(w, 'node-a');
    const io = (rx: number | null, tx: number | null, read: number | null, write: number | null) => ({
      networkRxBytes: rx === null ? null : String(rx),
      networkTxBytes: tx === null ? null : String(tx),
      blockReadBytes: read === null ? null : String(read),
      blockWriteBytes: write === null ? null : String(write),
    });
    const s3 = sample('node-a', w, BASE + 30_000, 3n, io(3500, 900, 100, 8192));
    publish(nodeA, 'node-a', sample('node-a', w, BASE + 10_000, 1n, io(1000, 500, 0, 4096)));
    publish(nodeA, 'node-a', sample('node-a', w, BASE + 20_000, 2n, io(3000, 700, null, null))); // block counters unreadable this time
    publish(nodeA, 'node-a', s3);
    publish(nodeA, 'node-a', s3, randomUUID()); // a duplicate the stream does not catch
    publish(nodeA, 'node-a', sample('node-a', w, BASE + HOUR + 10_000, 1n, io(200, 50, 0, 0))); // restarted: counters from zero
    publish(nodeA, 'node-a', sample('node-a', w, BASE + HOUR + 20_000, 2n)); // an agent that does not send them
    await waitFor(async () => ((await storedSamples(w)) === 5 ? true : undefined), { timeoutMs: 20_000, what: 'five samples stored' });
    await waitFor(async () => ((await rollup(w, 'network_rx_bytes'))[iso(BASE + HOUR)] === '200' ? true : undefined), { timeoutMs: 20_000, what: 'network rollups' });
    expect(await rollup(w, 'network_rx_bytes')).toEqual({ [iso(BASE)]: '3500', [iso(BASE + HOUR)]: '200' });
    expect(await rollup(w, 'network_tx_bytes')).toEqual({ [iso(BASE)]: '900', [iso(BASE + HOUR)]: '50' });
    expect(await rollup(w, 'block_read_bytes')).toEqual({ [iso(BASE)]: '100', [iso(BASE + HOUR)]: '0' });
    expect(await rollup(w, 'block_write_bytes')).toEqual({ [iso(BASE)]: '8192', [iso(BASE + HOUR)]: '0' });

    // A late sample in the gap moves bytes between samples, not the total.
    publish(nodeA, 'node-a', sample('node-a', w, BASE + 25_000, 3n, io(3200, 800, 50, 6000)));
    await waitFor(async () => ((await storedSamples(w)) === 6 ? true : undefined), { timeoutMs: 20_000, what: 'the late sample stored' });
    await waitFor(async () => {
      const { rows } = await metering.db.query<{ d: string }>(`SELECT blk_write_delta::text AS d FROM metering.samples WHERE workload_id = $1 AND sampled_at = $2`, [w, iso(BASE + 30_000)]);
      return rows[0]?.d === '2192' ? true : undefined;
    }, { timeoutMs: 20_000, what: 'the successor delta recomputed' });
    expect(await rollup(w, 'block_write_bytes')).toEqual({ [iso(BASE)]: '8192', [iso(BASE + HOUR)]: '0' });
    expect(await rollup(w, 'network_rx_bytes')).toEqual({ [iso(BASE)]: '3500', [iso(BASE + HOUR)]: '200' });
    const units = await metering.db.query<{ name: string; unit: string }>(`SELECT name, unit FROM metering.meters WHERE source LIKE 'sample.net%' OR source LIKE 'sample.blk%' ORDER BY name`);
    expect(units.rows).toEqual([
      { name: 'block_read_bytes', unit: 'byte' },
      { name: 'block_write_bytes', unit: 'byte' },
      { name: 'network_rx_bytes', unit: 'byte' },
      { name: 'network_tx_bytes', unit: 'byte' },
    ]);
  });

  it('applies every aggregation of meters defined as data', async () => {
    await metering.db.query(
      `INSERT INTO metering.meters (name, unit, source, aggregation) VALUES
       ('test_memory_avg', 'byte', 'sample.memory', 'AVG'), ('test_memory_latest', 'byte', 'sample.memory', 'LATEST'),
       ('test_memory_max', 'byte', 'sample.memory', 'MAX'), ('test_samples', 'count', 'sample.memory', 'COUNT'), ('test_memory_sum', 'byte', 'sample.memory', 'SUM')`,
    );
    try {
      const w = randomUUID();
      await place(w, 'node-a');
      for (const [offset, memoryBytes] of [[1000, 100], [3000, 400], [2000, 700]] as const) {
        publish(nodeA, 'node-a', sample('node-a', w, BASE + offset, 1n, { memoryBytes }));
      }
      await waitFor(async () => (Object.keys(await rollup(w, 'test_samples')).length === 1 && (await rollup(w, 'test_samples'))[iso(BASE)] === '3' ? true : undefined), {
        timeoutMs: 20_000,
        what: 'count rollup',
      });
      expect(await rollup(w, 'test_memory_avg')).toEqual({ [iso(BASE)]: '400' });
      expect(await rollup(w, 'test_memory_latest')).toEqual({ [iso(BASE)]: '400' }); // by sample time, not arrival
      expect(await rollup(w, 'test_memory_max')).toEqual({ [iso(BASE)]: '700' });
      expect(await rollup(w, 'test_memory_sum')).toEqual({ [iso(BASE)]: '1200' });

      // A later sample in a batch of its own: added to the hour's values, not re-read.
      publish(nodeA, 'node-a', sample('node-a', w, BASE + 4000, 1n, { memoryBytes: 50 }));
      await waitFor(async () => ((await rollup(w, 'test_samples'))[iso(BASE)] === '4' ? true : undefined), { timeoutMs: 20_000, what: 'count rollup of 4' });
      expect(await rollup(w, 'test_memory_avg')).toEqual({ [iso(BASE)]: '312.5' });
      expect(await rollup(w, 'test_memory_latest')).toEqual({ [iso(BASE)]: '50' });
      expect(await rollup(w, 'test_memory_max')).toEqual({ [iso(BASE)]: '700' });
      expect(await rollup(w, 'test_memory_sum')).toEqual({ [iso(BASE)]: '1250' });
    } finally {
      await metering.db.query(`DELETE FROM metering.rollups WHERE meter LIKE 'test\\_%'`);
      await metering.db.query(`DELETE FROM metering.meters WHERE name LIKE 'test\\_%'`);
    }
  });

  it('terminates bad messages without stopping ingestion', async () => {
    const w = randomUUID();
    await place(w, 'node-a');
    publish(nodeA, 'node-a', 'not json at all');
    publish(nodeA, 'node-a', JSON.stringify({ sampleId: 'x', cpuUsageNs: -1 }));
    publish(nodeA, 'node-a', sample('node-b', w, BASE + 5_000, 1n)); // claims another node
    publish(nodeA, 'node-a', sample('node-a', w, BASE + 6_000, 2_000_000_000n));
    await waitFor(async () => ((await totalCpuSeconds(w)) === '2' ? true : undefined), { timeoutMs: 20_000, what: 'the good sample counted' });
    expect(await storedSamples(w)).toBe(1);
    const terminated = metering.logs.filter((l) => /^terminated/.test(l.msg));
    expect(terminated.map((l) => l.msg)).toEqual(
      expect.arrayContaining(['terminated usage message: not JSON', 'terminated invalid usage sample', 'terminated usage sample: node id does not match its subject']),
    );
    // Terminated, not left to be redelivered forever.
    await waitFor(async () => ((await jetstream(control).consumers.get('GUREUM_USAGE', 'metering-usage').then((c) => c.info())).num_ack_pending === 0 ? true : undefined), {
      timeoutMs: 20_000,
      what: 'nothing pending',
    });
  });

  it('counts every sample exactly once when metering dies mid-ingestion and restarts', async () => {
    const workloads = Array.from({ length: 10 }, () => randomUUID());
    for (const w of workloads) await place(w, 'node-b');
    const perWorkload = 500;
    let expectedNs = 0n;
    for (const w of workloads) {
      for (let i = 1; i <= perWorkload; i += 1) {
        // Increments of i ms of CPU: the counter is the running sum.
        publish(nodeB, 'node-b', sample('node-b', w, BASE + 2 * HOUR + i * 1000, BigInt((i * (i + 1)) / 2) * 1_000_000n));
      }
      expectedNs += BigInt((perWorkload * (perWorkload + 1)) / 2) * 1_000_000n;
    }
    await nodeB.flush();
    const ours = `SELECT count(*)::int AS n FROM metering.samples WHERE workload_id = ANY($1::uuid[])`;
    await waitFor(
      async () => {
        const n = (await metering.db.query<{ n: number }>(ours, [workloads])).rows[0]?.n ?? 0;
        return n > 0 ? true : undefined;
      },
      { timeoutMs: 20_000, what: "ingestion under way", intervalMs: 5 },
    );
    await metering.app.kill();
    const atKill = (await metering.db.query<{ n: number }>(ours, [workloads])).rows[0]?.n ?? 0;
    expect(atKill).toBeLessThan(workloads.length * perWorkload);

    await metering.restart();
    await waitFor(async () => ((await metering.db.query<{ n: number }>(ours, [workloads])).rows[0]?.n === workloads.length * perWorkload ? true : undefined), {
      timeoutMs: 60_000,
      what: 'every sample stored after the restart',
    });
    const { rows } = await metering.db.query<{ total: string }>(
      `SELECT sum(quantity)::text AS total FROM metering.rollups WHERE meter = 'cpu_seconds' AND workload_id = ANY($1::uuid[])`,
      [workloads],
    );
    expect(trimDecimal(rows[0]?.total ?? '')).toBe((expectedNs / 1_000_000_000n).toString() + '.' + (expectedNs % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, ''));
  });
});

/** The error a connection reports for the next permission violation. */
function nextViolation(nc: NatsConnection): Promise<string> {
  return (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'error') return String((status as { error?: unknown }).error);
    }
    return 'closed';
  })();
}

describe('who may bill a workload: only the node it is placed on, for its own tenant', () => {
  const refusals = (workloadId: string) =>
    metering.logs
      .filter((l) => l.msg.startsWith('usage samples refused'))
      .flatMap((l) => (l['examples'] as Array<{ workloadId: string; nodeId: string; reason: string; sampledAt: string }>).filter((e) => e.workloadId === workloadId));

  it('bills a sample only from the node the workload was placed on at its time, for the workload’s tenant; refuses the rest', async () => {
    const w = randomUUID();
    const movedAt = BASE + 10 * 60_000;
    // Placed on node-a, then re-placed on node-b (what a drain or a lost host does).
    await place(w, 'node-a');
    await emitState({ workloadId: w, tenantId: TENANT_A, hostId: null, from: 'running', to: 'pending', at: iso(movedAt) });
    await emitState({ workloadId: w, tenantId: TENANT_A, hostId: 'node-b', from: 'pending', to: 'scheduled', at: iso(movedAt + 1000) });
    await waitFor(async () => ((await storedFacts(w)) === 3 ? true : undefined), { timeoutMs: 20_000, what: 'three facts recorded' });

    publish(nodeA, 'node-a', sample('node-a', w, BASE + 60_000, 1_000_000_000n)); // on node-a then: billed
    publish(nodeB, 'node-b', sample('node-b', w, BASE + 120_000, 50_000_000_000n)); // node-b before it got the workload
    publish(nodeA, 'node-a', sample('node-a', w, movedAt + 10 * 60_000, 60_000_000_000n)); // node-a after it lost it
    publish(nodeA, 'node-a', sample('node-a', w, BASE + 180_000, 70_000_000_000n, { tenantId: TENANT_B })); // right node and time, another tenant
    publish(nodeB, 'node-b', sample('node-b', w, movedAt + 5 * 60_000, 2_000_000_000n, { handleId: 'handle-b' })); // on node-b now: billed
    await waitFor(async () => ((await totalCpuSeconds(w)) === '3' ? true : undefined), { timeoutMs: 20_000, what: 'the two placed samples billed' });
    await waitFor(async () => (refusals(w).length === 3 ? true : undefined), { timeoutMs: 20_000, what: 'three refusals logged' });
    expect(refusals(w).map((r) => [r.nodeId, r.sampledAt, r.reason]).sort()).toEqual(
      [
        ['node-a', iso(BASE + 180_000), 'tenant_mismatch'],
        ['node-a', iso(movedAt + 10 * 60_000), 'not_placed_on_node'],
        ['node-b', iso(BASE + 120_000), 'not_placed_on_node'],
      ].sort(),
    );
    expect(await storedSamples(w)).toBe(2);
    const tenants = await metering.db.query<{ tenant_id: string }>(`SELECT DISTINCT tenant_id FROM metering.rollups WHERE workload_id = $1`, [w]);
    expect(tenants.rows).toEqual([{ tenant_id: TENANT_A }]);
  });

  it('refuses a sample for a workload that does not exist once the hold runs out, without billing anyone', async () => {
    const ghost = randomUUID();
    publish(nodeA, 'node-a', sample('node-a', ghost, BASE + 60_000, 36_000_000_000_000n));
    await waitFor(async () => (refusals(ghost).length === 1 ? true : undefined), { timeoutMs: 20_000, what: 'the refusal logged' });
    expect(refusals(ghost)[0]?.reason).toBe('unknown_workload');
    expect(await storedSamples(ghost)).toBe(0);
    expect(await totalCpuSeconds(ghost)).toBe('0');
  });

  it('holds a sample that arrives before its placement and bills it once the placement arrives', async () => {
    const w = randomUUID();
    publish(nodeA, 'node-a', sample('node-a', w, BASE + 60_000, 4_000_000_000n));
    await nodeA.flush();
    // Held, not refused: it is redelivered until the fact arrives (the hold is 12 deliveries × 500 ms here).
    await waitFor(async () => (metering.logs.some((l) => l.msg.startsWith('usage samples held')) ? true : undefined), { timeoutMs: 20_000, what: 'the sample held' });
    await place(w, 'node-a');
    await waitFor(async () => ((await totalCpuSeconds(w)) === '4' ? true : undefined), { timeoutMs: 20_000, what: 'the held sample billed' });
    expect(refusals(w)).toEqual([]);
  });

  it('takes the node from the subject NATS confines each agent to: another node’s subject is refused by NATS, another node’s id in the payload by metering', async () => {
    const w = randomUUID();
    await place(w, 'node-b');
    // node-a's real credentials, on a connection of its own (a violation may close it).
    const a = nats.agent('node-a');
    const rogue = await connectNats({ url: nats.url, user: a.user, password: a.password, inboxPrefix: a.inboxPrefix, name: 'node-a-rogue' });
    try {
      const violation = nextViolation(rogue);
      publish(rogue, 'node-b', sample('node-b', w, BASE + 60_000, 9_000_000_000n));
      expect(await violation).toMatch(/Permissions Violation for Publish to "agent\.node-b\.evt\.usage\.v1"/);
      // Registry storage facts come from the control plane's outbox: an agent cannot publish them either.
      const registryViolation = nextViolation(rogue);
      rogue.publish('evt.registry.storage.v1', JSON.stringify({ tenantId: TENANT_A }));
      expect(await registryViolation).toMatch(/Permissions Violation for Publish to "evt\.registry\.storage\.v1"/);
    } finally {
      await rogue.close();
    }
    // On its own subject, claiming node-b in the payload: terminated.
    publish(nodeA, 'node-a', sample('node-b', w, BASE + 70_000, 9_000_000_000n));
    // node-b's own sample, sent after both: once it is billed, the others have been decided.
    publish(nodeB, 'node-b', sample('node-b', w, BASE + 80_000, 1_000_000_000n));
    await waitFor(async () => ((await totalCpuSeconds(w)) === '1' ? true : undefined), { timeoutMs: 20_000, what: "node-b's sample billed" });
    expect(await storedSamples(w)).toBe(1);
  });
});

describe('allocated time from lifecycle events', () => {
  const emit = emitState;

  it('splits running intervals at hour boundaries: vCPU-seconds = allocation × time, no gap, no overlap', async () => {
    const w = randomUUID();
    const resources = { cpuMillis: 500, memoryMiB: 1024, pids: 64 };
    const start = BASE + 30 * 60_000;
    const end = BASE + 2 * HOUR + 15 * 60_000 + 500;
    await emit({ workloadId: w, tenantId: TENANT_A, from: 'starting', to: 'running', at: iso(start), resources });
    const stopping = await emit({ workloadId: w, tenantId: TENANT_A, from: 'running', to: 'stopping', at: iso(end), resources });
    await emit({ workloadId: w, tenantId: TENANT_A, from: 'running', to: 'stopping', at: iso(end), resources, eventId: stopping }); // duplicate
    await emit({ workloadId: w, tenantId: TENANT_A, from: 'stopping', to: 'stopped', at: iso(end + 2000), resources });
    await waitFor(async () => (Object.keys(await rollup(w, 'vcpu_seconds')).length === 3 ? true : undefined), { timeoutMs: 20_000, what: 'three hours of vCPU-seconds' });

    expect(await rollup(w, 'vcpu_seconds')).toEqual({ [iso(BASE)]: '900', [iso(BASE + HOUR)]: '1800', [iso(BASE + 2 * HOUR)]: '450.25' });
    const total = await metering.db.query<{ vcpu: string; gib: string }>(
      `SELECT sum(quantity) FILTER (WHERE meter = 'vcpu_seconds')::text AS vcpu, round(sum(quantity) FILTER (WHERE meter = 'memory_gib_hours'), 9)::text AS gib FROM metering.rollups WHERE workload_id = $1`,
      [w],
    );
    expect(Number(total.rows[0]?.vcpu)).toBeCloseTo(((end - start) / 1000) * 0.5, 6);
    expect(total.rows[0]?.gib).toBe((((end - start) / HOUR) * 1).toFixed(9));
  });

  it('measures a workload that is still running up to the last complete hour', async () => {
    const w = randomUUID();
    await emit({ workloadId: w, tenantId: TENANT_B, from: 'starting', to: 'running', at: iso(BASE + HOUR), resources: { cpuMillis: 2000, memoryMiB: 512, pids: 64 } });
    await waitFor(async () => (Object.keys(await rollup(w, 'vcpu_seconds')).length === 2 ? true : undefined), { timeoutMs: 20_000, what: 'two complete hours' });
    expect(await rollup(w, 'vcpu_seconds')).toEqual({ [iso(BASE + HOUR)]: '7200', [iso(BASE + 2 * HOUR)]: '7200' });
  });

  it('counts allocated time continuously across unknown (host silent within the grace window): running → unknown → running', async () => {
    const w = randomUUID();
    const resources = { cpuMillis: 1000, memoryMiB: 1024, pids: 64 };
    const start = BASE + 10 * 60_000;
    const silent = start + 20 * 60_000;
    const back = silent + 16_200; // the 16.2 s the issue saw unbilled
    const end = BASE + 50 * 60_000;
    await emit({ workloadId: w, tenantId: TENANT_A, from: 'starting', to: 'running', at: iso(start), resources });
    await emit({ workloadId: w, tenantId: TENANT_A, from: 'running', to: 'unknown', at: iso(silent), resources });
    await emit({ workloadId: w, tenantId: TENANT_A, from: 'unknown', to: 'running', at: iso(back), resources });
    await emit({ workloadId: w, tenantId: TENANT_A, from: 'running', to: 'stopping', at: iso(end), resources });
    await waitFor(async () => ((await storedFacts(w)) === 4 ? true : undefined), { timeoutMs: 20_000, what: 'four facts recorded' });
    await waitFor(async () => ((await rollup(w, 'vcpu_seconds'))[iso(BASE)] === '2400' ? true : undefined), { timeoutMs: 20_000, what: '40 minutes of one vCPU, without a gap' });
    const segments = await metering.db.query<{ started_at: Date; ended_at: Date }>(`SELECT started_at, ended_at FROM metering.allocation_segments WHERE workload_id = $1`, [w]);
    expect(segments.rows.map((r) => [r.started_at.toISOString(), r.ended_at.toISOString()])).toEqual([[iso(start), iso(end)]]);
  });
});

describe('registry storage GiB-hours', () => {
  const GiB = 1_073_741_824;
  const TENANT_R = randomUUID();

  async function publishStorage(repository: string, atMs: number, bytes: number, msgId?: string): Promise<void> {
    const body = { sampleId: `${repository}@${iso(atMs)}`, tenantId: TENANT_R, tenantName: 'acme', repository, bytes, at: iso(atMs) };
    await jetstream(control).publish('evt.registry.storage.v1', JSON.stringify(body), { msgID: msgId ?? body.sampleId });
  }

  async function tenantRollup(): Promise<Record<string, string>> {
    const { rows } = await metering.db.query<{ hour: Date; quantity: string }>(
      `SELECT hour, quantity::text AS quantity FROM metering.rollups WHERE tenant_id = $1 AND workload_id IS NULL AND meter = 'registry.storage.gib_hours' ORDER BY hour`,
      [TENANT_R],
    );
    return Object.fromEntries(rows.map((r) => [r.hour.toISOString(), trimDecimal(r.quantity)]));
  }

  it('holds each sample’s bytes until the next one, per repository, in hourly GiB-hours; duplicates once, late samples re-split', async () => {
    const MIN = 60_000;
    await publishStorage('acme/web', BASE, GiB);
    await publishStorage('acme/web', BASE + 30 * MIN, 2 * GiB);
    await publishStorage('acme/web', BASE + 90 * MIN, 0);
    await publishStorage('acme/db', BASE + 60 * MIN, 3 * GiB);
    await publishStorage('acme/db', BASE + 120 * MIN, 0);
    await publishStorage('acme/db', BASE + 120 * MIN, 5 * GiB, randomUUID()); // same sampleId, outside the stream's dedupe: ignored
    const expected = { [iso(BASE)]: '1.5', [iso(BASE + HOUR)]: '4', [iso(BASE + 2 * HOUR)]: '0' };
    await waitFor(async () => (JSON.stringify(await tenantRollup()) === JSON.stringify(expected) ? true : undefined), { timeoutMs: 20_000, what: 'registry GiB-hours' });

    // A late sample for a past hour: db held 1 GiB (not 3) from 01:30 to 02:00.
    await publishStorage('acme/db', BASE + 90 * MIN, GiB);
    const corrected = { [iso(BASE)]: '1.5', [iso(BASE + HOUR)]: '3', [iso(BASE + 2 * HOUR)]: '0' };
    await waitFor(async () => (JSON.stringify(await tenantRollup()) === JSON.stringify(corrected) ? true : undefined), { timeoutMs: 20_000, what: 'the late sample applied' });

    const { rows } = await metering.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM metering.registry_storage_samples WHERE tenant_id = $1`, [TENANT_R]);
    expect(rows[0]?.n).toBe(6);
    const reply: UsageReply = await metering.api.request('metering.cmd.usage.query.v1', {
      caller: tenantCaller(TENANT_R),
      from: iso(BASE),
      to: iso(BASE + 3 * HOUR),
      groupBy: 'workload',
      granularity: 'day',
    } as never);
    const storage = reply.rows.filter((r) => r.meter === 'registry.storage.gib_hours');
    expect(storage.map((r) => [r.unit, r.workloadId])).toEqual(storage.map(() => ['GiB-hour', null]));
    expect(storage.reduce((sum, r) => sum + Number(r.quantity), 0)).toBe(4.5);
  });

  it('rolls open-ended storage forward hour by hour, rewriting only the new hours', async () => {
    const tenant = randomUUID();
    const body = { sampleId: `roll/x@${iso(BASE)}`, tenantId: tenant, tenantName: 'roll', repository: 'roll/x', bytes: GiB, at: iso(BASE) };
    await jetstream(control).publish('evt.registry.storage.v1', JSON.stringify(body), { msgID: body.sampleId });
    const total = async () => {
      const { rows } = await metering.db.query<{ total: string | null; hours: number }>(
        `SELECT sum(quantity)::text AS total, count(*)::int AS hours FROM metering.rollups WHERE tenant_id = $1 AND meter = 'registry.storage.gib_hours'`,
        [tenant],
      );
      return { total: rows[0]?.total ? trimDecimal(rows[0].total) : null, hours: rows[0]?.hours ?? 0 };
    };
    await waitFor(async () => ((await total()).total === '3' ? true : undefined), { timeoutMs: 20_000, what: 'three hours held so far' });

    // The same use case two hours later, as housekeeping runs it.
    const dataSource = createMeteringDataSource(database.url, 2);
    await dataSource.initialize();
    try {
      let now = new Date(BASE + 5 * HOUR + 60_000);
      const later = new RecordRegistryStorageUseCase(dataSource, pino({ level: 'silent' }), 35 * 24 * HOUR, () => now);
      expect(await later.rollForward()).toBeGreaterThan(0);
      expect(await total()).toEqual({ total: '5', hours: 5 });
      expect(await later.rollForward()).toBe(0); // same hour: nothing to do
      const firstHour = `SELECT updated_at FROM metering.rollups WHERE tenant_id = $1 AND hour = $2`;
      const before = (await metering.db.query<{ updated_at: Date }>(firstHour, [tenant, iso(BASE)])).rows[0]?.updated_at;
      now = new Date(BASE + 6 * HOUR + 60_000);
      await later.rollForward();
      expect(await total()).toEqual({ total: '6', hours: 6 });
      expect((await metering.db.query<{ updated_at: Date }>(firstHour, [tenant, iso(BASE)])).rows[0]?.updated_at).toEqual(before);
    } finally {
      await metering.db.query(`DELETE FROM metering.rollups WHERE tenant_id = $1`, [tenant]);
      await metering.db.query(`DELETE FROM metering.registry_storage_samples WHERE tenant_id = $1`, [tenant]);
      await dataSource.destroy();
    }
  });

  it('extends what the latest sample holds up to the last complete hour', async () => {
    const tenant = randomUUID();
    const body = { sampleId: `solo/x@${iso(BASE + HOUR)}`, tenantId: tenant, tenantName: 'solo', repository: 'solo/x', bytes: 2 * GiB, at: iso(BASE + HOUR) };
    await jetstream(control).publish('evt.registry.storage.v1', JSON.stringify(body), { msgID: body.sampleId });
    await waitFor(
      async () => {
        const { rows } = await metering.db.query<{ total: string }>(`SELECT sum(quantity)::text AS total FROM metering.rollups WHERE tenant_id = $1 AND meter = 'registry.storage.gib_hours'`, [tenant]);
        return rows[0]?.total ? trimDecimal(rows[0].total) : undefined;
      },
      { timeoutMs: 20_000, what: 'open-ended storage' },
    ).then((total) => expect(total).toBe('4'));
  });
});

describe('usage query', () => {
  const query = (caller: Caller | OperatorCaller, extra: Record<string, unknown> = {}): Promise<UsageReply> =>
    metering.api.request('metering.cmd.usage.query.v1', { caller, from: iso(BASE), to: iso(BASE + 3 * HOUR), ...extra } as never);

  it('shows a tenant its own usage only; operators every tenant, or one', async () => {
    const own = await query(tenantCaller(TENANT_B), { groupBy: 'meter', granularity: 'day' });
    expect(own.rows.length).toBeGreaterThan(0);
    expect(new Set(own.rows.map((r) => r.tenantId))).toEqual(new Set([TENANT_B]));
    const vcpuB = own.rows.filter((r) => r.meter === 'vcpu_seconds').reduce((sum, r) => sum + Number(r.quantity), 0);
    expect(vcpuB).toBe(14_400);

    const all = await query(operator, { groupBy: 'workload' });
    expect([...new Set(all.rows.map((r) => r.tenantId))]).toEqual(expect.arrayContaining([TENANT_A, TENANT_B]));
    // Registry storage belongs to a tenant, not to a workload.
    expect(all.rows.every((r) => (r.workloadId === null) === (r.meter === 'registry.storage.gib_hours'))).toBe(true);
    const onlyA = await query({ ...operator }, { tenantId: TENANT_A });
    expect(new Set(onlyA.rows.map((r) => r.tenantId))).toEqual(new Set([TENANT_A]));

    const nobody = await query(tenantCaller(randomUUID()));
    expect(nobody.rows).toEqual([]);
  });

  it('rejects a tenant caller naming another tenant, and an empty window', async () => {
    await expect(query(tenantCaller(TENANT_B), { tenantId: TENANT_A })).rejects.toMatchObject({ code: 'validation_failed' });
    const error = await query(operator, { from: iso(BASE + HOUR), to: iso(BASE) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GureumError);
    expect((error as GureumError).code).toBe('validation_failed');
  });
});
