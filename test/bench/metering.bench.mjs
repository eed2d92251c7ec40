#!/usr/bin/env node
// bench:metering — N usage samples (default 1,000,000, issue 7) published to JetStream and
// ingested by the real metering service (built dist: dedupe, counter deltas, hourly rollups,
// acks) into a real PostgreSQL, against a baseline measured in the same run on the same
// database: one bare `COPY … FROM STDIN` of the same rows into a table of the same shape (same
// columns, keys and indexes as metering.samples). Not a test: it prints samples/s for both and
// the ratio. Targets (issue 7): ≥ 50,000 samples/s and ≥ 30% of the bare COPY rate.
//
// Needs `npm run build` and a PostgreSQL admin URL in GUREUM_TEST_PG_URL (the test one works:
// postgres://postgres@127.0.0.1:56432/postgres). Starts its own nats-server on loopback.
// BENCH_SAMPLES, BENCH_WORKLOADS, BENCH_BATCH (metering's batch size; unset: the service's default) tune it;
// BENCH_NODE_ARGS passes node flags (e.g. --cpu-prof) to the metering process.
import { execFile } from 'node:child_process';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const require = createRequire(import.meta.url);
const { createTestDatabase, spawnProcess, startNats } = require('@gureum/testing');
const { connectNats } = require('@gureum/messaging');
const { jetstream, jetstreamManager } = require('@nats-io/jetstream');
const { headers } = require('@nats-io/transport-node');
const { Client } = require('pg');
const { from: copyFrom } = require('pg-copy-streams');

const exec = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const N = Number(process.env.BENCH_SAMPLES ?? 1_000_000);
const WORKLOADS = Number(process.env.BENCH_WORKLOADS ?? 1_000);
const BATCH = process.env.BENCH_BATCH ? Number(process.env.BENCH_BATCH) : null;
const NODE = 'bench-node';
// Extra node flags for the metering process, e.g. BENCH_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof'.
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
const HOUR = 3_600_000;

if (!process.env.GUREUM_TEST_PG_URL) {
  console.error('set GUREUM_TEST_PG_URL to a PostgreSQL admin URL (e.g. postgres://postgres@127.0.0.1:56432/postgres)');
  process.exit(2);
}

// Agents sample every 10 s, all their workloads in one round: samples arrive interleaved by time.
const perWorkload = Math.ceil(N / WORKLOADS);
const start = Math.floor(Date.now() / HOUR) * HOUR - Math.ceil((perWorkload * 10_000) / HOUR + 1) * HOUR;
const tenants = Array.from({ length: 20 }, () => randomUUID());
const workloads = Array.from({ length: WORKLOADS }, (_, i) => ({ id: randomUUID(), tenantId: tenants[i % tenants.length], cpu: 0n, rx: 0n, tx: 0n, rd: 0n, wr: 0n }));
const samples = [];
for (let round = 0; samples.length < N; round += 1) {
  for (const w of workloads) {
    if (samples.length >= N) break;
    const at = start + round * 10_000;
    w.cpu += 123_456_789n;
    w.rx += 1500n;
    w.tx += 700n;
    w.rd += 4096n;
    w.wr += 8192n;
    samples.push({
      sampleId: `${w.id}/h1/${at}`,
      nodeId: NODE,
      workloadId: w.id,
      tenantId: w.tenantId,
      handleId: 'h1',
      sampledAt: new Date(at).toISOString(),
      cpuUsageNs: w.cpu.toString(),
      memoryBytes: 50_000_000,
      memoryPeakBytes: 60_000_000,
      pids: 4,
      networkRxBytes: w.rx.toString(),
      networkTxBytes: w.tx.toString(),
      blockReadBytes: w.rd.toString(),
      blockWriteBytes: w.wr.toString(),
    });
  }
}

const database = await createTestDatabase('bench-metering');
const nats = await startNats({ agents: [NODE] });
const db = new Client({ connectionString: database.url });
let metering = null;
const env = {
  GUREUM_DATABASE_URL: database.url,
  GUREUM_NATS_URL: nats.url,
  GUREUM_NATS_USER: nats.control.user,
  GUREUM_NATS_PASSWORD: nats.control.password,
  ...(BATCH ? { GUREUM_METERING_BATCH_SIZE: String(BATCH) } : {}),
  GUREUM_LOG_LEVEL: 'warn',
};
const startMetering = async () => {
  const proc = await spawnProcess({ name: 'bench-metering', command: process.execPath, args: [...NODE_ARGS, path.join(ROOT, 'apps/metering/dist/main.js')], cwd: ROOT, env: { ...env, GUREUM_LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info' } });
  await proc.waitForLog('metering started', 60_000);
  return proc;
};
const count = async (table) => Number((await db.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n);

try {
  await exec(process.execPath, [path.join(ROOT, 'apps/metering/dist/migrate.js')], { env: { ...process.env, ...env }, cwd: ROOT });
  await db.connect();

  // 1. Metering creates its stream; stop it, then fill the stream so ingestion drains a backlog.
  metering = await startMetering();
  const control = await connectNats({ url: nats.url, ...nats.control, name: 'bench' });
  // Metering bills a sample only for a workload placed on the sending node: the scheduler's placement facts, recorded before the clock starts.
  for (const w of workloads) {
    const eventId = randomUUID();
    await jetstream(control).publish('evt.workload.state.v1', JSON.stringify({ eventId, workloadId: w.id, tenantId: w.tenantId, hostId: NODE, from: null, to: 'scheduled', reason: null, generation: 1, at: new Date(start - HOUR).toISOString() }), { msgID: eventId });
  }
  while ((await count('metering.lifecycle_events')) < WORKLOADS) await new Promise((r) => setTimeout(r, 200));
  await metering.stop('SIGTERM');
  metering = null;
  const creds = nats.agent(NODE);
  const agent = await connectNats({ url: nats.url, user: creds.user, password: creds.password, inboxPrefix: creds.inboxPrefix, name: NODE });
  const jsm = await jetstreamManager(control);
  for (let i = 0; i < samples.length; i += 1) {
    const h = headers();
    h.set('Nats-Msg-Id', `${NODE}/${samples[i].sampleId}`);
    agent.publish(`agent.${NODE}.evt.usage.v1`, JSON.stringify(samples[i]), { headers: h });
    if (i % 5_000 === 4_999) await agent.flush();
  }
  await agent.flush();
  for (;;) {
    const info = await jsm.streams.info('GUREUM_USAGE');
    if (info.state.messages >= N) break;
    await new Promise((r) => setTimeout(r, 200));
  }

  // 2. Metering drains the backlog: from "started" until every sample is stored and rolled up.
  const t0 = performance.now();
  metering = await startMetering();
  // Done when the consumer has nothing pending or unacked (messages are acked only after their
  // batch committed); asking JetStream keeps a count(*) over a growing table off the database.
  for (;;) {
    const info = await jsm.consumers.info('GUREUM_USAGE', 'metering-usage');
    if (info.num_pending === 0 && info.num_ack_pending === 0 && info.delivered.stream_seq >= N) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const meteringSeconds = (performance.now() - t0) / 1000;
  await metering.stop('SIGTERM');
  metering = null;
  if ((await count('metering.samples')) !== N) throw new Error(`metering stored ${await count('metering.samples')} samples, not ${N}`);
  const rollups = await count('metering.rollups');
  // Each batch is one transaction: its now() stamps its rows. First to last commit, and how many batches.
  const window = (await db.query(`SELECT extract(epoch FROM max(received_at) - min(received_at))::float8 AS s, count(DISTINCT received_at)::int AS batches FROM metering.samples`)).rows[0];
  const cpuTotal = (await db.query(`SELECT sum(quantity)::text AS s FROM metering.rollups WHERE meter = 'cpu_seconds'`)).rows[0].s;
  const expectedCpu = workloads.reduce((sum, w) => sum + w.cpu, 0n);
  await agent.drain();
  await control.drain();

  // 3. Baseline: the same rows in one bare COPY … FROM STDIN (text format) into a table like
  //    metering.samples (same columns, keys and indexes), in the same database.
  await db.query(`CREATE SCHEMA bench_raw; CREATE TABLE bench_raw.samples (LIKE metering.samples INCLUDING ALL)`);
  const text = (v) => (v === null || v === undefined ? '\\N' : String(v));
  function* copyLines() {
    for (let i = 0; i < samples.length; i += 1_000) {
      let chunk = '';
      for (const s of samples.slice(i, i + 1_000)) {
        chunk += [`${NODE}/${s.sampleId}`, s.tenantId, s.workloadId, s.nodeId, s.handleId, s.sampledAt, s.cpuUsageNs, s.memoryBytes, s.memoryPeakBytes, s.pids,
          s.networkRxBytes, s.networkTxBytes, s.blockReadBytes, s.blockWriteBytes].map(text).join('\t') + '\n';
      }
      yield chunk;
    }
  }
  const t1 = performance.now();
  await pipeline(
    Readable.from(copyLines()),
    db.query(copyFrom(`COPY bench_raw.samples (dedupe_key, tenant_id, workload_id, node_id, handle_id, sampled_at, cpu_usage_ns, memory_bytes, memory_peak_bytes, pids,
                                         net_rx_bytes, net_tx_bytes, blk_read_bytes, blk_write_bytes) FROM STDIN`)),
  );
  const rawSeconds = (performance.now() - t1) / 1000;
  if ((await count('bench_raw.samples')) !== N) throw new Error('baseline did not insert every row');

  const meteringRate = N / meteringSeconds;
  const rawRate = N / rawSeconds;
  console.log(`bench:metering — ${N} samples, ${WORKLOADS} workloads, batch ${BATCH ?? 'service default'}, ${rollups} hourly rollup rows`);
  console.log(`metering (NATS → dedupe → deltas → rollups → ack)  ${meteringSeconds.toFixed(1).padStart(7)} s  ${meteringRate.toFixed(0).padStart(8)} samples/s`);
  console.log(`  (first to last batch transaction ${window.s.toFixed(1)} s, ${window.batches} batches; the rest is boot and pulling the first batch)`);
  console.log(`bare COPY FROM STDIN (same rows, same DB)          ${rawSeconds.toFixed(1).padStart(7)} s  ${rawRate.toFixed(0).padStart(8)} samples/s`);
  console.log(`ratio metering / bare COPY: ${(meteringRate / rawRate).toFixed(2)}   (targets: ≥ 50,000 samples/s and ≥ 0.30; anchor: Lago ~10,000 events/s on PostgreSQL)`);
  console.log(`check: cpu_seconds total ${cpuTotal} = published ${Number(expectedCpu) / 1e9}`);
} finally {
  await metering?.stop('SIGTERM').catch(() => undefined);
  await db.end().catch(() => undefined);
  await nats.stop();
  await database.drop();
}
