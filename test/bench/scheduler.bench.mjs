#!/usr/bin/env node
// bench:scheduler — N simulated hosts heartbeating over real NATS (one simulator process, one
// connection), R real scheduler processes (built dist, NATS queue group) on a fresh PostgreSQL
// database, M workload creates; then, in the same run and on the same database, the bare claim
// writes (the same INSERT/UPDATE statements a create commits, without the scheduler) as the
// floor the database sets. Prints placements/s, p50/p99 decision latency, the CPU each process
// used while placing, the bare rate and the ratio (BENCH_TIMELINE=1: latency per second of the
// run too). Not a test; never run by CI.
//
//   npm run build   # once: the bench runs apps/scheduler/dist
//   npm run bench:scheduler -- --hosts 1000 --placements 5000 [--replicas 1] [--concurrency 16 | --rate 1000] [--tenants 100] [--warmup 0]
//
// --concurrency C (closed loop, the default, C = 64): C clients, each sending its next create
// once answered. --rate R (open loop): creates are sent at R per second whatever comes back, as
// many independent callers would, and each one's latency counts from when it was due, so a
// stall delays every create due meanwhile instead of hiding them (no coordinated omission).
//
// --warmup N: N creates first, not measured (a freshly started replica's cold code paths and
// first host-index load; the default 0 measures from the cold start, as a restart would see it).
//
// Needs nats-server on PATH and a PostgreSQL server (GUREUM_TEST_PG_URL, the test server by
// default); creates and drops its own database, starts its own unauthenticated nats-server on
// a free loopback port.
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SCHEDULER_DIST = path.join(ROOT, 'apps/scheduler/dist');
const IMAGE = 'gureum/bench:1';
// The scheduler's own statements and batch limits (CommonJS build).
const requireDist = createRequire(path.join(SCHEDULER_DIST, 'main.js'));
const batchSql = requireDist('./workloads/create-batch-statements.js');
const { MAX_CREATE_BATCH } = requireDist('./workloads/create-batcher.js');
const { CANDIDATES_PER_MEMBER } = requireDist('./placement/batch-claims.js');

function args() {
  const out = { hosts: 10_000, placements: 50_000, warmup: 0, replicas: 1, concurrency: 64, rate: 0, tenants: 100, heartbeatMs: 30_000, simulate: false, nats: '' };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 1) {
    const name = argv[i].replace(/^--/, '');
    if (name === 'simulate') out.simulate = true;
    else if (name in out) out[name] = typeof out[name] === 'number' ? Number(argv[++i]) : argv[++i];
    else throw new Error(`unknown option --${name}`);
  }
  return out;
}

const options = args();
if (options.simulate) await simulate(options);
else await main(options);

// ---------------------------------------------------------------- simulator (child process)

/** Heartbeats for `hosts` nodes over ONE connection, each host every `heartbeatMs`, spread evenly. */
async function simulate({ nats, hosts, heartbeatMs }) {
  const nc = await connect({ servers: nats, name: 'bench-simulator' });
  const nodes = Array.from({ length: hosts }, (_, i) => ({ id: `sim-${String(i).padStart(5, '0')}`, bootId: randomUUID(), zone: ['a', 'b', 'c'][i % 3] }));
  const beat = (node) =>
    nc.publish(
      `agent.${node.id}.evt.heartbeat.v1`,
      JSON.stringify({
        nodeId: node.id,
        bootId: node.bootId,
        sentAt: new Date().toISOString(),
        agentVersion: 'bench-sim',
        labels: { zone: node.zone },
        drivers: [{ driver: 'docker', healthy: true, detail: 'simulated', capacity: { cpuMillis: 16_000, memoryMiB: 65_536, pids: 32_768 }, images: [IMAGE] }],
      }),
    );
  // First round as fast as the scheduler can take it, in slices so NATS is not flooded.
  for (let i = 0; i < nodes.length; i += 200) {
    for (const node of nodes.slice(i, i + 200)) beat(node);
    await nc.flush();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  process.stdout.write('ready\n');
  const perTick = Math.max(1, Math.ceil(nodes.length / (heartbeatMs / 100)));
  let next = 0;
  setInterval(() => {
    for (let i = 0; i < perTick; i += 1) beat(nodes[(next + i) % nodes.length]);
    next = (next + perTick) % nodes.length;
  }, 100);
  process.on('SIGTERM', () => void nc.close().then(() => process.exit(0)));
}

// ---------------------------------------------------------------- orchestration

async function main(opts) {
  const adminUrl = process.env.GUREUM_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:56432/postgres';
  const dbName = `gureum_bench_${randomBytes(4).toString('hex')}`;
  const dbUrl = withDatabase(adminUrl, dbName);
  const children = [];
  const scratch = await mkdtemp(path.join(tmpdir(), 'gureum-bench-sched-'));
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${dbName}"`);
  const cleanup = async () => {
    // Newest first (simulator, schedulers, then NATS), each waited for, then the database.
    for (const child of children.reverse()) {
      if (child.exitCode !== null) continue;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    }
    await admin.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`).catch(() => undefined);
    await admin.end();
    await rm(scratch, { recursive: true, force: true });
  };
  process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));

  try {
    const natsPort = await freePort();
    const natsUrl = `nats://127.0.0.1:${natsPort}`;
    children.push(await startChild('nats-server', ['-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', path.join(scratch, 'js')], (line) => line.includes('Server is ready')));

    await run(process.execPath, [path.join(SCHEDULER_DIST, 'migrate.js')], { GUREUM_DATABASE_URL: dbUrl, GUREUM_LOG_LEVEL: 'warn' });
    const schedulerEnv = {
      GUREUM_DATABASE_URL: dbUrl,
      GUREUM_NATS_URL: natsUrl,
      GUREUM_NATS_USER: 'bench',
      GUREUM_NATS_PASSWORD: 'bench',
      GUREUM_LOG_LEVEL: 'info',
      GUREUM_HEARTBEAT_INTERVAL_MS: String(opts.heartbeatMs),
      GUREUM_HOST_LOST_AFTER_MISSED: '100',
      GUREUM_QUOTA_DEFAULT_CPU_MILLIS: String(10 ** 12),
      GUREUM_QUOTA_DEFAULT_MEMORY_MIB: String(10 ** 12),
      GUREUM_QUOTA_DEFAULT_PIDS: String(10 ** 12),
      GUREUM_QUOTA_DEFAULT_WORKLOADS: String(10 ** 8),
    };
    // The replicas run with the flags deploy/local/stack.sh gives the scheduler (a larger young
    // generation). BENCH_SCHEDULER_NODE_ARGS replaces them ("" for node's defaults; add
    // "--cpu-prof --cpu-prof-dir=/tmp/prof" to see where a replica spends its time).
    const nodeArgs = (process.env.BENCH_SCHEDULER_NODE_ARGS ?? '--max-semi-space-size=32').split(' ').filter(Boolean);
    // Each replica of several prefers its own shard of the fleet, as an operator running several
    // sets GUREUM_PLACEMENT_SHARD (docs/scheduler.md); BENCH_NO_SHARDS=1 leaves it unset (one shared ranking).
    for (let i = 0; i < opts.replicas; i += 1) {
      const shard = opts.replicas > 1 && !process.env.BENCH_NO_SHARDS ? { GUREUM_PLACEMENT_SHARD: `${i}/${opts.replicas}` } : {};
      children.push(await startChild(process.execPath, [...nodeArgs, path.join(SCHEDULER_DIST, 'main.js')], (line) => line.includes('"scheduler started"'), { ...schedulerEnv, ...shard }));
    }

    const db = new pg.Client({ connectionString: dbUrl });
    await db.connect();
    const joinStarted = performance.now();
    children.push(
      await startChild(process.execPath, [fileURLToPath(import.meta.url), '--simulate', '--nats', natsUrl, '--hosts', String(opts.hosts), '--heartbeatMs', String(opts.heartbeatMs)], (line) => line === 'ready'),
    );
    for (;;) {
      const { rows } = await db.query(`SELECT count(*)::int AS n FROM scheduler.hosts`);
      if (rows[0].n >= opts.hosts) break;
      if (performance.now() - joinStarted > 300_000) throw new Error(`only ${rows[0].n} of ${opts.hosts} hosts registered in 5 minutes`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const joinSeconds = (performance.now() - joinStarted) / 1000;

    // --- placements through the real scheduler
    const nc = await connect({ servers: natsUrl, name: 'bench-api' });
    const tenants = Array.from({ length: opts.tenants }, () => randomUUID());
    /** Create `i` (`prefix`); `onReply(t0, reply, error)` with `t0` when it was due. */
    const createOne = async (i, prefix, t0, onReply) => {
      const tenantId = tenants[i % tenants.length];
      const envelope = {
        pattern: 'scheduler.cmd.workload.create.v1',
        id: randomUUID(),
        data: {
          caller: { principalId: 'bench', tenantId, role: 'member', requestId: randomUUID() },
          idempotencyKey: `${prefix}-${i}`,
          spec: { name: `${prefix}-${i}`, kind: 'container', image: IMAGE, resources: { cpuMillis: 100 + (i % 4) * 100, memoryMiB: 128 + (i % 3) * 128, pids: 32 } },
        },
      };
      try {
        onReply(t0, (await nc.request('scheduler.cmd.workload.create.v1', JSON.stringify(envelope), { timeout: 60_000 })).json(), null);
      } catch (error) {
        onReply(t0, null, error);
      }
    };
    /**
     * `count` creates: from `opts.concurrency` clients, each sending its next once answered, or
     * (`opts.rate`) each sent when due, `1000 / rate` ms after the one before, every create due
     * by now sent at once on each timer turn.
     */
    const createMany = async (count, prefix, onReply) => {
      let next = 0;
      if (opts.rate > 0) {
        const begun = performance.now();
        const inFlight = [];
        while (next < count) {
          const now = performance.now();
          for (; next < count && begun + (next * 1000) / opts.rate <= now; next += 1) inFlight.push(createOne(next, prefix, begun + (next * 1000) / opts.rate, onReply));
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
        await Promise.all(inFlight);
        return;
      }
      await Promise.all(
        Array.from({ length: opts.concurrency }, async () => {
          for (;;) {
            const i = next++;
            if (i >= count) return;
            await createOne(i, prefix, performance.now(), onReply);
          }
        }),
      );
    };
    const latencies = [];
    const states = { scheduled: 0, pending: 0, error: 0 };
    const errors = new Map();
    await createMany(opts.warmup, 'warmup', () => undefined);
    // BENCH_TIMELINE=1: latency percentiles per second of the run as well (warm-up, stalls).
    const timeline = process.env.BENCH_TIMELINE ? [] : null;
    const cpuBefore = await cpuByRole(children);
    const started = performance.now();
    await createMany(opts.placements, 'bench', (t0, reply, error) => {
      if (error) {
        states.error += 1;
        errors.set(String(error.message).slice(0, 60), (errors.get(String(error.message).slice(0, 60)) ?? 0) + 1);
        return;
      }
      latencies.push(performance.now() - t0);
      timeline?.push([t0 - started, performance.now() - t0]);
      if (reply.err) {
        states.error += 1;
        errors.set(reply.err.code, (errors.get(reply.err.code) ?? 0) + 1);
      } else states[reply.response.state] = (states[reply.response.state] ?? 0) + 1;
    });
    const seconds = (performance.now() - started) / 1000;
    const cpuAfter = await cpuByRole(children);
    const cpu = Object.fromEntries(Object.keys(cpuAfter).map((role) => [role, (cpuAfter[role] - (cpuBefore[role] ?? 0)) / 100]));
    if (timeline) {
      const bySecond = new Map();
      for (const [at, ms] of timeline) {
        const k = Math.floor(at / 1000);
        if (!bySecond.has(k)) bySecond.set(k, []);
        bySecond.get(k).push(ms);
      }
      for (const [k, values] of bySecond) console.log(`  t=${k}s n=${values.length} p50 ${percentile(values, 50).toFixed(1)} p99 ${percentile(values, 99).toFixed(1)} max ${Math.max(...values).toFixed(1)}`);
    }
    const placementRate = states.scheduled / seconds;
    await nc.close();

    // Overcommit check on the way: allocation equals claims and stays within the effective capacity.
    const { rows: over } = await db.query(
      `SELECT count(*)::int AS n FROM scheduler.hosts h
        WHERE h.allocated_cpu_millis > floor(h.capacity_cpu_millis * 4) OR h.allocated_memory_mib > h.capacity_memory_mib
           OR h.allocated_cpu_millis <> (SELECT coalesce(sum(cpu_millis), 0) FROM scheduler.claims c WHERE c.host_id = h.id)`,
    );

    // Batches the scheduler committed: a batch's workloads share their transaction's now().
    const { rows: shape } = await db.query(
      `SELECT count(*)::int AS placed, count(DISTINCT created_at)::int AS transactions FROM scheduler.workloads WHERE state = 'scheduled'`,
    );

    // --- bare claim writes: the statements a batch of creates commits, no scheduler in between
    const hostIds = (await db.query(`SELECT id FROM scheduler.hosts ORDER BY id`)).rows.map((row) => row.id);
    // Open loop: the floor writes batches as large as the scheduler's were on average.
    const batchSize = Math.min(MAX_CREATE_BATCH, opts.rate > 0 ? Math.max(1, Math.round(shape[0].placed / Math.max(1, shape[0].transactions))) : Math.ceil(opts.concurrency / opts.replicas));
    const bare = await bareClaimWrites(dbUrl, hostIds, batchSize, opts);
    await db.end();

    const p = (q) => percentile(latencies, q).toFixed(1);
    console.log(`hosts=${opts.hosts} placements=${opts.placements}${opts.warmup ? ` (after ${opts.warmup} warm-up creates, not measured)` : ''} replicas=${opts.replicas} ${opts.rate > 0 ? `rate=${opts.rate}/s (open loop)` : `concurrency=${opts.concurrency}`} tenants=${opts.tenants} (hosts joined in ${joinSeconds.toFixed(1)} s)`);
    console.log(`scheduler: ${states.scheduled} placed, ${states.pending} pending, ${states.error} errors${errors.size ? ` ${JSON.stringify(Object.fromEntries(errors))}` : ''} in ${seconds.toFixed(2)} s`);
    console.log(`  placements/s           ${placementRate.toFixed(0)}`);
    console.log(`  decision latency ms    p50 ${p(50)}  p99 ${p(99)}  max ${Math.max(...latencies).toFixed(1)}`);
    console.log(`  hosts overcommitted    ${over[0].n}`);
    console.log(`  CPU s during placements ${Object.entries(cpu).map(([role, s]) => `${role} ${s.toFixed(1)}`).join(', ')} (of ${(seconds * cpus().length).toFixed(1)} on ${cpus().length} cores)`);
    console.log(`  transactions           ${shape[0].transactions} for ${shape[0].placed} placements (mean batch ${(shape[0].placed / Math.max(1, shape[0].transactions)).toFixed(1)})`);
    console.log(
      `bare claim writes: ${bare.count} in ${bare.seconds.toFixed(2)} s = ${bare.rate.toFixed(0)}/s (the scheduler's batch statements, batches of ${bare.batchSize}, ${bare.writers} writer(s) at once; one batch p50 ${percentile(bare.batchMs, 50).toFixed(1)} p99 ${percentile(bare.batchMs, 99).toFixed(1)} ms)`,
    );
    console.log(`ratio scheduler / bare writes: ${((placementRate / bare.rate) * 100).toFixed(1)}%`);
  } finally {
    await cleanup();
  }
}

/**
 * A batch of creates' writes, exactly as the scheduler commits them (the statements come from
 * its build): the candidate hosts locked in id order and the tenants' quota rows locked in
 * one statement, then the workloads inserted `scheduled` with claims, host allocation, quota
 * charge, history and outbox rows in another.
 * Without the scheduler's decisions: a batch locks CANDIDATES_PER_MEMBER hosts and claims on
 * the first (as binpack does), the next batch the next hosts; tenants round robin. Batches
 * are of `batchSize` (as large as one replica's can get at this concurrency: its share of the
 * callers; or as the scheduler's were on average in the open loop), and as many run at once as the scheduler fleet runs (one per replica).
 */
async function bareClaimWrites(dbUrl, hostIds, batchSize, opts) {
  const writers = opts.replicas;
  const pool = new pg.Pool({ connectionString: dbUrl, max: 10 });
  const count = Math.min(opts.placements, 20_000);
  const batches = Math.ceil(count / batchSize);
  const tenants = Array.from({ length: opts.tenants }, () => randomUUID());
  const resources = { cpuMillis: 100, memoryMiB: 128, pids: 32 };
  const payload = (workloadId, tenantId, eventId, hostId, from, to) => ({
    eventId, workloadId, tenantId, hostId, from, to, reason: null, generation: 0, at: new Date().toISOString(), resources,
  });
  let nextBatch = 0;
  let written = 0;
  /** How long each batch's transaction took (connection to commit): the floor's own batch cycle. */
  const batchMs = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async () => {
      for (;;) {
        const b = nextBatch++;
        if (b >= batches) return;
        const size = Math.min(batchSize, count - b * batchSize);
        const hosts = Array.from({ length: CANDIDATES_PER_MEMBER }, (_, k) => hostIds[(b * CANDIDATES_PER_MEMBER + k) % hostIds.length]).sort();
        const members = Array.from({ length: size }, (_, j) => {
          const i = b * batchSize + j;
          return { i, id: randomUUID(), tenantId: tenants[i % tenants.length], eventId: randomUUID() };
        });
        const batchStarted = performance.now();
        const client = await pool.connect();
        // As the scheduler's inQueuedTransaction (libs/database) sends them: BEGIN with the level
        // in one round trip with the first statement, COMMIT in one with the last (pipeline mode).
        client.pipeline = true;
        try {
          // The scheduler's two statements: host locks + quota locks (with the look-up of taken
          // keys and suspended tenants), then the write.
          const lock = batchSql.lockBatchStatement(
            hosts,
            [IMAGE],
            [...new Set(members.map((m) => m.tenantId))],
            members.map((m) => ({ tenant_id: m.tenantId, idempotency_key: `bare-${m.i}` })),
          );
          await Promise.all([client.query('BEGIN ISOLATION LEVEL READ COMMITTED'), client.query(lock.text, lock.values)]);
          const write = batchSql.writeBatchStatement(
            members.map((m) => ({
              id: m.id, tenant_id: m.tenantId, name: `bare-${m.i}`, kind: 'container', image: IMAGE, command: null, env: null,
              cpu_millis: resources.cpuMillis, memory_mib: resources.memoryMiB, pids: resources.pids, idempotency_key: `bare-${m.i}`,
              placement: null, priority: 0, preemptible: false, vm: null, host_id: hosts[0],
              claim_cpu_millis: resources.cpuMillis, claim_memory_mib: resources.memoryMiB, claim_pids: resources.pids,
              quota_cpu_millis: resources.cpuMillis, quota_memory_mib: resources.memoryMiB, quota_pids: resources.pids, quota_workloads: 1, quota_vms: 0,
              event_id: m.eventId, payload: payload(m.id, m.tenantId, m.eventId, hosts[0], null, 'scheduled'),
            })),
          );
          const [, commit] = await Promise.all([client.query(write.text, write.values), client.query('COMMIT')]);
          if (commit.command !== 'COMMIT') throw new Error(`bare claim writes: COMMIT answered ${commit.command}`);
          written += size;
          batchMs.push(performance.now() - batchStarted);
        } catch (error) {
          await client.query('ROLLBACK');
          throw error;
        } finally {
          client.pipeline = false;
          client.release();
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await pool.end();
  return { count: written, seconds, rate: written / seconds, batchSize, writers, batchMs };
}

// ---------------------------------------------------------------- helpers

/**
 * CPU ticks (user + system, 1/100 s) per role, from /proc: the bench's children, every
 * `postgres` process on the machine (the test server's), and this process (the client).
 */
async function cpuByRole(children) {
  // utime + stime; for PostgreSQL also cutime + cstime: a backend that exits between two
  // readings takes its ticks with it, into the postmaster's reaped-children time.
  const ticks = (stat, withChildren) => {
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]) + (withChildren ? Number(fields[13]) + Number(fields[14]) : 0);
  };
  const out = { postgres: 0, scheduler: 0, 'nats-server': 0, simulator: 0, client: 0 };
  const roleOf = new Map(children.map((child) => [child.pid, child.spawnargs.includes('--simulate') ? 'simulator' : child.spawnargs.some((a) => a.endsWith('main.js')) ? 'scheduler' : 'nats-server']));
  roleOf.set(process.pid, 'client');
  for (const pid of await readdir('/proc')) {
    if (!/^[0-9]+$/.test(pid)) continue;
    try {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const role = roleOf.get(Number(pid)) ?? (stat.includes('(postgres)') ? 'postgres' : null);
      if (role) out[role] += ticks(stat, role === 'postgres');
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function withDatabase(url, name) {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function run(command, argv, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${path.basename(command)} ${argv.join(' ')} exited ${code}`))));
  });
}

/** Spawns a process and resolves once a line of its output says it is ready; rejects if it dies first. */
function startChild(command, argv, isReady, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let ready = false;
    const tail = [];
    const onLine = (line) => {
      tail.push(line);
      if (tail.length > 20) tail.shift();
      if (!ready && isReady(line)) {
        ready = true;
        resolve(child);
      }
      if (ready && /"level":"(error|fatal)"/.test(line)) process.stderr.write(`[${path.basename(argv[0] ?? command)}] ${line.slice(0, 400)}\n`);
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);
    child.once('exit', (code) => {
      if (!ready) reject(new Error(`${command} exited ${code} before it was ready:\n${tail.join('\n')}`));
    });
  });
}
