#!/usr/bin/env node
// bench:scheduler — N simulated hosts heartbeating over real NATS (one simulator process, one
// connection), R real scheduler processes (built dist, NATS queue group) on a fresh PostgreSQL
// database, M workload creates; then, in the same run and on the same database, the bare claim
// writes (the same INSERT/UPDATE statements a create commits, without the scheduler) as the
// floor the database sets. Prints placements/s, p50/p99 decision latency, the bare rate and
// the ratio. Not a test; never run by CI.
//
//   npm run build   # once: the bench runs apps/scheduler/dist
//   npm run bench:scheduler -- --hosts 1000 --placements 5000 [--replicas 1] [--concurrency 16] [--tenants 100]
//
// Needs nats-server on PATH and a PostgreSQL server (GUREUM_TEST_PG_URL, the test server by
// default); creates and drops its own database, starts its own unauthenticated nats-server on
// a free loopback port.
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SCHEDULER_DIST = path.join(ROOT, 'apps/scheduler/dist');
const IMAGE = 'gureum/bench:1';

function args() {
  const out = { hosts: 10_000, placements: 50_000, replicas: 1, concurrency: 16, tenants: 100, heartbeatMs: 30_000, simulate: false, nats: '' };
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
      GUREUM_QUOTA_DEFAULT_WORKLOADS: String(10 ** 8),
    };
    // BENCH_SCHEDULER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to see where a replica spends its time.
    const nodeArgs = (process.env.BENCH_SCHEDULER_NODE_ARGS ?? '').split(' ').filter(Boolean);
    for (let i = 0; i < opts.replicas; i += 1) {
      children.push(await startChild(process.execPath, [...nodeArgs, path.join(SCHEDULER_DIST, 'main.js')], (line) => line.includes('"scheduler started"'), schedulerEnv));
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
    const latencies = [];
    const states = { scheduled: 0, pending: 0, error: 0 };
    const errors = new Map();
    let issued = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: opts.concurrency }, async () => {
        for (;;) {
          const i = issued++;
          if (i >= opts.placements) return;
          const tenantId = tenants[i % tenants.length];
          const envelope = {
            pattern: 'scheduler.cmd.workload.create.v1',
            id: randomUUID(),
            data: {
              caller: { principalId: 'bench', tenantId, role: 'member', requestId: randomUUID() },
              idempotencyKey: `bench-${i}`,
              spec: { name: `w-${i}`, kind: 'container', image: IMAGE, resources: { cpuMillis: 100 + (i % 4) * 100, memoryMiB: 128 + (i % 3) * 128, pids: 32 } },
            },
          };
          const t0 = performance.now();
          try {
            const reply = (await nc.request('scheduler.cmd.workload.create.v1', JSON.stringify(envelope), { timeout: 60_000 })).json();
            latencies.push(performance.now() - t0);
            if (reply.err) {
              states.error += 1;
              errors.set(reply.err.code, (errors.get(reply.err.code) ?? 0) + 1);
            } else states[reply.response.state] = (states[reply.response.state] ?? 0) + 1;
          } catch (error) {
            states.error += 1;
            errors.set(String(error.message).slice(0, 60), (errors.get(String(error.message).slice(0, 60)) ?? 0) + 1);
          }
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const placementRate = states.scheduled / seconds;
    await nc.close();

    // Overcommit check on the way: allocation equals claims and stays within the effective capacity.
    const { rows: over } = await db.query(
      `SELECT count(*)::int AS n FROM scheduler.hosts h
        WHERE h.allocated_cpu_millis > floor(h.capacity_cpu_millis * 4) OR h.allocated_memory_mib > h.capacity_memory_mib
           OR h.allocated_cpu_millis <> (SELECT coalesce(sum(cpu_millis), 0) FROM scheduler.claims c WHERE c.host_id = h.id)`,
    );

    // --- bare claim writes: the statements a create commits, no scheduler in between
    const hostIds = (await db.query(`SELECT id FROM scheduler.hosts ORDER BY id`)).rows.map((row) => row.id);
    const bare = await bareClaimWrites(dbUrl, hostIds, opts);
    await db.end();

    const p = (q) => percentile(latencies, q).toFixed(1);
    console.log(`hosts=${opts.hosts} placements=${opts.placements} replicas=${opts.replicas} concurrency=${opts.concurrency} tenants=${opts.tenants} (hosts joined in ${joinSeconds.toFixed(1)} s)`);
    console.log(`scheduler: ${states.scheduled} placed, ${states.pending} pending, ${states.error} errors${errors.size ? ` ${JSON.stringify(Object.fromEntries(errors))}` : ''} in ${seconds.toFixed(2)} s`);
    console.log(`  placements/s           ${placementRate.toFixed(0)}`);
    console.log(`  decision latency ms    p50 ${p(50)}  p99 ${p(99)}  max ${Math.max(...latencies).toFixed(1)}`);
    console.log(`  hosts overcommitted    ${over[0].n}`);
    console.log(`bare claim writes: ${bare.count} in ${bare.seconds.toFixed(2)} s = ${bare.rate.toFixed(0)}/s (same statements, pool 10, concurrency ${opts.concurrency})`);
    console.log(`ratio scheduler / bare writes: ${((placementRate / bare.rate) * 100).toFixed(1)}%`);
  } finally {
    await cleanup();
  }
}

/**
 * One create's writes, as the scheduler commits them: workload insert + history + outbox,
 * the host row lock and claim, host allocation, the workload update + history + outbox, the
 * quota row lock and update. Hosts are taken round robin (no placement decision).
 */
async function bareClaimWrites(dbUrl, hostIds, opts) {
  const pool = new pg.Pool({ connectionString: dbUrl, max: 10 });
  const count = Math.min(opts.placements, 20_000);
  const tenants = Array.from({ length: opts.tenants }, () => randomUUID());
  let issued = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: opts.concurrency }, async () => {
      for (;;) {
        const i = issued++;
        if (i >= count) return;
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          const id = randomUUID();
          const tenant = tenants[i % tenants.length];
          const host = hostIds[i % hostIds.length];
          await client.query(
            `INSERT INTO scheduler.workloads (id, tenant_id, name, kind, image, cpu_millis, memory_mib, pids, state, desired_state, generation, idempotency_key, priority, preemptible)
             VALUES ($1, $2, $3, 'container', $4, 100, 128, 32, 'pending', 'running', 0, $5, 0, false)`,
            [id, tenant, `bare-${i}`, IMAGE, `bare-${i}`],
          );
          await event(client, id, null, 'pending');
          await client.query(`SELECT id FROM scheduler.hosts WHERE id = $1 FOR UPDATE`, [host]);
          await client.query(`INSERT INTO scheduler.claims (workload_id, host_id, cpu_millis, memory_mib, pids) VALUES ($1, $2, 100, 128, 32)`, [id, host]);
          await client.query(
            `UPDATE scheduler.hosts SET allocated_cpu_millis = allocated_cpu_millis + 100, allocated_memory_mib = allocated_memory_mib + 128,
               allocated_pids = allocated_pids + 32, generation = generation + 1, updated_at = now() WHERE id = $1`,
            [host],
          );
          await client.query(`UPDATE scheduler.workloads SET state = 'scheduled', host_id = $2, updated_at = now() WHERE id = $1`, [id, host]);
          await event(client, id, 'pending', 'scheduled');
          await client.query(
            `INSERT INTO scheduler.quota_usage (tenant_id) VALUES ($1) ON CONFLICT (tenant_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id RETURNING *`,
            [tenant],
          );
          await client.query(`UPDATE scheduler.quota_usage SET cpu_millis = cpu_millis + 100, memory_mib = memory_mib + 128, workloads = workloads + 1 WHERE tenant_id = $1`, [tenant]);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK');
          throw error;
        } finally {
          client.release();
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await pool.end();
  return { count, seconds, rate: count / seconds };
}

async function event(client, workloadId, from, to) {
  const eventId = randomUUID();
  await client.query(`INSERT INTO scheduler.workload_events (event_id, workload_id, from_state, to_state) VALUES ($1, $2, $3, $4)`, [eventId, workloadId, from, to]);
  await client.query(`INSERT INTO scheduler.outbox (message_id, subject, payload) VALUES ($1, 'evt.workload.state.v1', $2)`, [eventId, JSON.stringify({ workloadId, from, to })]);
}

// ---------------------------------------------------------------- helpers

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
