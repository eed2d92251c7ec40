/**
 * The metering service as a real process (built dist) SIGKILLed in the middle of ingesting a
 * large batch of published samples, then restarted: every hourly total must equal the sum
 * computed here from the samples that were published — nothing lost, nothing counted twice —
 * with duplicates mixed in and late samples for past hours arriving after the restart.
 */
import { execFile } from 'node:child_process';
import { randomInt, randomUUID } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { jetstream } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import type { UsageSample, WorkloadStateChanged } from '@gureum/contracts';
import { connectNats, type NatsConnection } from '@gureum/messaging';
import { createTestDatabase, repoRoot, spawnProcess, startNats, waitFor, type ManagedProcess, type TestDatabase, type TestNats } from '@gureum/testing';
import { Client } from 'pg';

const exec = promisify(execFile);
const HOUR = 3_600_000;
const NODE = 'node-crash';
const WORKLOADS = 20;
const PER_WORKLOAD = 1_000;
const STEP_MS = 10_000;
/** Four hours ago, on the hour: the samples span hours BASE … BASE+2h. */
const BASE = Math.floor(Date.now() / HOUR) * HOUR - 4 * HOUR;
const COUNTERS = { cpu_seconds: 'cpuUsageNs', network_rx_bytes: 'networkRxBytes', network_tx_bytes: 'networkTxBytes', block_write_bytes: 'blockWriteBytes' } as const;
type Meter = keyof typeof COUNTERS;

let database: TestDatabase;
let nats: TestNats;
let agent: NatsConnection;
let control: NatsConnection;
let db: Client;
let metering: ManagedProcess | null = null;

/** Per meter and hour: the usage the published samples add up to (exact integers; CPU in ns). */
const expected = new Map<string, bigint>();
const addExpected = (meter: Meter, atMs: number, amount: bigint) => {
  const key = `${meter}@${new Date(Math.floor(atMs / HOUR) * HOUR).toISOString()}`;
  expected.set(key, (expected.get(key) ?? 0n) + amount);
};

function publish(sample: UsageSample, msgId = `${NODE}/${sample.sampleId}`): void {
  const h = headers();
  h.set('Nats-Msg-Id', msgId);
  agent.publish(`agent.${NODE}.evt.usage.v1`, JSON.stringify(sample), { headers: h });
}

async function startMetering(): Promise<ManagedProcess> {
  const proc = await spawnProcess({
    name: 'metering-crash',
    command: process.execPath,
    args: [path.join(repoRoot(), 'apps/metering/dist/main.js')],
    cwd: repoRoot(),
    env: {
      GUREUM_DATABASE_URL: database.url,
      GUREUM_NATS_URL: nats.url,
      GUREUM_NATS_USER: nats.control.user,
      GUREUM_NATS_PASSWORD: nats.control.password,
      GUREUM_METERING_ACK_WAIT_MS: '3000',
      GUREUM_LOG_LEVEL: 'info',
    },
  });
  await proc.waitForLog('metering started', 30_000);
  return proc;
}

async function storedCount(): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM metering.samples`);
  return rows[0]?.n ?? 0;
}

async function rollupTotals(): Promise<Map<string, bigint>> {
  const { rows } = await db.query<{ meter: Meter; hour: Date; total: string }>(
    `SELECT meter, hour, sum(CASE WHEN meter = 'cpu_seconds' THEN quantity * 1000000000 ELSE quantity END)::numeric(40, 0)::text AS total
     FROM metering.rollups WHERE meter = ANY($1) GROUP BY meter, hour`,
    [Object.keys(COUNTERS)],
  );
  return new Map(rows.map((r) => [`${r.meter}@${r.hour.toISOString()}`, BigInt(r.total)]));
}

beforeAll(async () => {
  database = await createTestDatabase('metering-crash');
  nats = await startNats({ agents: [NODE] });
  await exec(process.execPath, [path.join(repoRoot(), 'apps/metering/dist/migrate.js')], { env: { ...process.env, GUREUM_DATABASE_URL: database.url }, cwd: repoRoot() });
  db = new Client({ connectionString: database.url });
  await db.connect();
  const creds = nats.agent(NODE);
  agent = await connectNats({ url: nats.url, user: creds.user, password: creds.password, inboxPrefix: creds.inboxPrefix, name: NODE });
  control = await connectNats({ url: nats.url, ...nats.control, name: 'test-scheduler' });
  metering = await startMetering();
}, 120_000);

afterAll(async () => {
  await metering?.stop();
  await agent?.drain();
  await control?.drain();
  await db?.end();
  await nats?.stop();
  await database?.drop();
});

it('SIGKILL mid-ingestion, restart: hourly totals equal the published samples’ sums; duplicates once; late samples update past hours', async () => {
  const tenantId = randomUUID();
  const late: UsageSample[] = [];
  let published = 0;
  // Metering bills a sample only for a workload placed on the sending node: the scheduler's facts first.
  const workloadIds = Array.from({ length: WORKLOADS }, () => randomUUID());
  for (const workloadId of workloadIds) {
    const eventId = randomUUID();
    const placed: WorkloadStateChanged = { eventId, workloadId, tenantId, hostId: NODE, from: null, to: 'scheduled', reason: null, generation: 1, at: new Date(BASE - HOUR).toISOString() };
    await jetstream(control).publish('evt.workload.state.v1', JSON.stringify(placed), { msgID: eventId });
  }
  await waitFor(async () => ((await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM metering.lifecycle_events`)).rows[0]?.n === WORKLOADS ? true : undefined), { timeoutMs: 30_000, what: 'the placements recorded' });
  for (let w = 0; w < WORKLOADS; w += 1) {
    const workloadId = workloadIds[w] as string;
    const counters: Record<Meter, bigint> = { cpu_seconds: 0n, network_rx_bytes: 0n, network_tx_bytes: 0n, block_write_bytes: 0n };
    let handleId = 'h1';
    for (let i = 0; i < PER_WORKLOAD; i += 1) {
      const atMs = BASE + i * STEP_MS + w;
      // The container restarts twice: its counters start again from zero, under a new handle once.
      if (i === 400) for (const meter of Object.keys(counters) as Meter[]) counters[meter] = 0n;
      if (i === 700) {
        handleId = 'h2';
        for (const meter of Object.keys(counters) as Meter[]) counters[meter] = 0n;
      }
      for (const meter of Object.keys(counters) as Meter[]) {
        const used = BigInt(randomInt(0, meter === 'cpu_seconds' ? 5_000_000_000 : 1_000_000));
        counters[meter] += used;
        addExpected(meter, atMs, used);
      }
      const sample: UsageSample = {
        sampleId: `${workloadId}/${handleId}/${atMs}`,
        nodeId: NODE,
        workloadId,
        tenantId,
        handleId,
        sampledAt: new Date(atMs).toISOString(),
        cpuUsageNs: counters.cpu_seconds.toString(),
        memoryBytes: 1_000_000 + i,
        memoryPeakBytes: 2_000_000,
        pids: 3,
        networkRxBytes: counters.network_rx_bytes.toString(),
        networkTxBytes: counters.network_tx_bytes.toString(),
        blockReadBytes: '0',
        blockWriteBytes: counters.block_write_bytes.toString(),
      };
      // Every 97th sample of the first hour arrives late, after the restart.
      if (i % 97 === 5 && atMs < BASE + HOUR) late.push(sample);
      else {
        publish(sample);
        published += 1;
        // Every 50th also again under another message id: only PostgreSQL's key can catch it.
        if (i % 50 === 0) publish(sample, randomUUID());
      }
    }
  }
  await agent.flush();
  expect(late.length).toBeGreaterThan(0);

  await waitFor(async () => ((await storedCount()) > 0 ? true : undefined), { timeoutMs: 30_000, intervalMs: 5, what: 'ingestion under way' });
  expect(await (metering as ManagedProcess).kill9()).toBeNull();
  const atKill = await storedCount();
  expect(atKill).toBeLessThan(published);

  metering = await startMetering();
  await waitFor(async () => ((await storedCount()) === published ? true : undefined), { timeoutMs: 180_000, intervalMs: 500, what: `all ${published} samples stored after the restart` });
  const withoutLate = await rollupTotals();
  // Without the late samples their usage is counted in their successors' deltas: the grand total is already exact.
  expect([...withoutLate.values()].reduce((a, b) => a + b, 0n)).toBe([...expected.values()].reduce((a, b) => a + b, 0n));

  for (const sample of late) publish(sample);
  await agent.flush();
  await waitFor(async () => ((await storedCount()) === published + late.length ? true : undefined), { timeoutMs: 60_000, what: 'the late samples stored' });
  await waitFor(
    async () => {
      const totals = await rollupTotals();
      return [...expected].every(([key, amount]) => totals.get(key) === amount) ? true : undefined;
    },
    { timeoutMs: 30_000, what: 'rollups equal to the expected sums' },
  );
  const totals = await rollupTotals();
  expect(Object.fromEntries([...totals].map(([k, v]) => [k, v.toString()]))).toEqual(Object.fromEntries([...expected].map(([k, v]) => [k, v.toString()])));
  const { rows } = await db.query<{ n: number }>(`SELECT count(DISTINCT dedupe_key)::int AS n FROM metering.samples`);
  expect(rows[0]?.n).toBe(published + late.length);
}, 400_000);
