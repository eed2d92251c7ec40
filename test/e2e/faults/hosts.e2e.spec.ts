/**
 * Faults around a host's heartbeats (issue 21): disconnected is not dead. With 8 containers
 * and a VM running on one host —
 * - the agent SIGKILLed and restarted 20 times, each gap about the heartbeat threshold;
 * - PostgreSQL stopped for 20 s (a server of this file's own: the shared test server is
 *   never stopped), creates meanwhile answered 503 with Retry-After;
 * - the agent frozen (SIGSTOP) past the heartbeat threshold but within the grace window,
 *   the API meanwhile showing the host `unreachable` and its workloads `unknown`;
 * restart nothing (same container ids and start times, same QEMU pid) and duplicate nothing.
 * Past the grace window the host is `lost` and its containers are re-placed on a second host.
 *
 * Timings are scaled down from the measurements (2 s × 3 heartbeat threshold, gaps of
 * 5.4–8.6 s): heartbeats every 500 ms, unreachable after 3 missed (1.5 s), silences of about
 * 0.9–1.8 × the threshold before the agent heartbeats again, grace 10 s.
 */
import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { HostView } from '@gureum/contracts';
import { ensureBusyboxImage, sleep, startDedicatedPostgres, waitFor, type DedicatedPostgres } from '@gureum/testing';
import { ApiClient, containerSpec, type Problem, type Workload } from '../support/api-client';
import { dockerInspect, System } from '../support/system';
import { removeVms } from '../support/vm';

const exec = promisify(execFile);
const ROOT = path.resolve(__dirname, '../../..');
const TEMPLATES = path.join(ROOT, '.gureum/images/vm');

const HEARTBEAT_MS = 500;
const MISSED = 3;
const THRESHOLD_MS = HEARTBEAT_MS * MISSED;
const GRACE_MS = 10_000;
const CONTAINERS = 8;
const KILL_ROUNDS = 20;

jest.setTimeout(180_000);

let pg: DedicatedPostgres;
let system: System;
let api: ApiClient;
let ops: ApiClient;
let hostA: string;
let containers: Workload[] = [];
let vm: Workload;

interface Snapshot {
  /** workload id → its container's id and start time. */
  containers: Map<string, { id: string; startedAt: string }>;
  /** Every container the agent of host A made (a duplicate shows up here). */
  allContainerIds: string[];
  qemuPids: number[];
}

beforeAll(async () => {
  if (!(await access(path.join(TEMPLATES, 'tiny', 'template.json')).then(() => true, () => false))) {
    await exec('bash', [path.join(ROOT, 'deploy/images/vm-guest.sh')], { cwd: ROOT, timeout: 600_000 });
  }
  await ensureBusyboxImage();
  pg = await startDedicatedPostgres('faults-hosts');
  system = new System({
    label: 'faults-hosts',
    agentCapacity: { cpuMillis: 8000, memoryMiB: 2048, pids: 4096 },
    heartbeatMs: HEARTBEAT_MS,
    schedulerEnv: { GUREUM_HOST_LOST_AFTER_MISSED: String(MISSED), GUREUM_SCHEDULER_DISCONNECT_GRACE_MS: String(GRACE_MS) },
    pgAdminUrl: pg.adminUrl,
    agent: { drivers: 'docker,vm', env: { GUREUM_AGENT_VM_TEMPLATES: TEMPLATES, GUREUM_AGENT_VM_ACCEL: 'tcg', GUREUM_AGENT_RECONCILE_MS: '1000' } },
    extraAgents: 1,
  });
  await system.start();
  hostA = system.nodeId;
  ops = new ApiClient(system.apiUrl, await system.createOperatorKey('faults-ops'));
  const tenant = await system.createTenant(`faults-${hostA}`);
  api = new ApiClient(system.apiUrl, tenant.apiKey);
  await waitFor(
    async () => {
      const { rows } = await system.query<{ id: string }>(`SELECT id FROM scheduler.hosts WHERE id = $1 AND 'vm' = ANY(drivers) AND 'vm-template+tiny' = ANY(images)`, [hostA]);
      return rows.length === 1 ? true : undefined;
    },
    { timeoutMs: 60_000, what: 'host A offers the vm driver with the tiny template' },
  );

  for (let i = 0; i < CONTAINERS; i += 1) {
    const created = await api.createWorkload(containerSpec(`c${i}`, { resources: { cpuMillis: 100, memoryMiB: 32, pids: 32 } }));
    expect(created.status).toBe(201);
    containers.push(created.body);
  }
  const createdVm = await api.createWorkload({ name: 'vm', kind: 'vm', image: 'tiny', resources: { cpuMillis: 1000, memoryMiB: 128 }, vm: { diskGiB: 1 } });
  expect(createdVm.status).toBe(201);
  vm = createdVm.body;
  containers = await Promise.all(containers.map((c) => waitForWorkload(c.id, (w) => w.state === 'running', `${c.name} running`)));
  vm = await waitForWorkload(vm.id, (w) => w.state === 'running', 'vm running', 90_000);
  expect(new Set([...containers, vm].map((w) => w.hostId))).toEqual(new Set([hostA]));
}, 600_000);

afterAll(async () => {
  if (system) {
    // Thaw whatever a failed test left frozen, or nothing can stop it.
    for (const name of ['agent', 'agent-x1'] as const) {
      try {
        system.thaw(name);
      } catch {
        // not running
      }
    }
    if (vm) await removeVms(api, [vm.id], hostA).catch(() => undefined);
    await system.stop();
  }
  await pg?.destroy();
}, 120_000);

async function host(id: string): Promise<HostView> {
  const res = await ops.call<HostView>('GET', `/v1/admin/hosts/${id}`);
  if (res.status !== 200) throw new Error(`GET host ${id}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** The states host A went to since `since` (its events, from the scheduler's outbox). */
async function hostTransitionsSince(since: Date): Promise<string[]> {
  const { rows } = await system.query<{ to: string }>(
    `SELECT payload->>'to' AS "to" FROM scheduler.outbox WHERE subject = 'evt.host.state.v1' AND payload->>'hostId' = $1 AND created_at >= $2 ORDER BY seq`,
    [hostA, since],
  );
  return rows.map((row) => row.to);
}

/** The states the workloads of this file went to since `since`. */
async function workloadTransitionsSince(since: Date): Promise<string[]> {
  const { rows } = await system.query<{ to: string }>(
    `SELECT payload->>'to' AS "to" FROM scheduler.outbox WHERE subject = 'evt.workload.state.v1' AND payload->>'workloadId' = ANY($1::text[]) AND created_at >= $2 ORDER BY seq`,
    [[...containers, vm].map((w) => w.id), since],
  );
  return rows.map((row) => row.to);
}

async function waitForWorkload(id: string, accept: (w: Workload) => boolean, what: string, timeoutMs = 30_000): Promise<Workload> {
  let last: unknown;
  return waitFor(
    async () => {
      const res = await api.getWorkload(id);
      last = res.body;
      return res.status === 200 && accept(res.body) ? res.body : undefined;
    },
    { timeoutMs, what: `${what} (last: ${JSON.stringify(last)})` },
  );
}

async function qemuPids(workloadId: string): Promise<number[]> {
  const { stdout } = await exec('pgrep', ['-f', '--', `-name gureum-${workloadId}`]).catch(() => ({ stdout: '' }));
  return stdout.split('\n').filter(Boolean).map(Number).sort((a, b) => a - b);
}

async function snapshot(): Promise<Snapshot> {
  const result: Snapshot = { containers: new Map(), allContainerIds: (await system.containerIds()).sort(), qemuPids: await qemuPids(vm.id) };
  for (const workload of containers) {
    const ids = await system.containerIds({ 'io.gureum.workload': workload.id });
    if (ids.length !== 1) throw new Error(`workload ${workload.id} has ${ids.length} containers on ${hostA}: ${ids.join(', ')}`);
    result.containers.set(workload.id, { id: ids[0]!, startedAt: (await dockerInspect(ids[0]!)).startedAt });
  }
  return result;
}

function expectUntouched(before: Snapshot, after: Snapshot): void {
  expect([...after.containers]).toEqual([...before.containers]);
  expect(after.allContainerIds).toEqual(before.allContainerIds);
  expect(after.allContainerIds).toHaveLength(CONTAINERS);
  expect(after.qemuPids).toEqual(before.qemuPids);
  expect(after.qemuPids).toHaveLength(1);
}

/** How many reconcile passes the current agent process of host A has logged. */
async function reconcilePasses(): Promise<number> {
  return ((await system.process('agent').readLog()).match(/"msg":"reconciled"/g) ?? []).length;
}

/**
 * The moment a restart would have happened: host A ready again, every workload back to
 * `running` on it, and the agent through two more reconcile passes against its assignments
 * (a pass is where the old code removed and re-created the containers).
 */
async function settledOnHostA(passesBefore: number, passes = 2): Promise<void> {
  await waitFor(async () => ((await host(hostA)).state === 'ready' ? true : undefined), { timeoutMs: 30_000, what: 'host A ready' });
  for (const workload of [...containers, vm]) await waitForWorkload(workload.id, (w) => w.state === 'running' && w.hostId === hostA, `${workload.name} running on A`);
  await waitFor(async () => ((await reconcilePasses()) >= passesBefore + passes ? true : undefined), { timeoutMs: 30_000, what: `${passes} agent reconcile passes` });
}

/** Host A's heartbeat row written after `since` (the database's clock), i.e. the scheduler hears it again. */
async function freshHeartbeatAfter(since: Date): Promise<void> {
  await waitFor(
    async () => {
      const { rows } = await system.query<{ fresh: boolean }>(`SELECT last_heartbeat_at > $2 AS fresh FROM scheduler.hosts WHERE id = $1`, [hostA, since]);
      return rows[0]?.fresh ? true : undefined;
    },
    { timeoutMs: 30_000, what: 'a fresh heartbeat of host A' },
  );
}

async function dbNow(): Promise<Date> {
  const { rows } = await system.query<{ now: Date }>('SELECT now() AS now');
  return rows[0]!.now;
}

it(`restarts nothing when the agent is SIGKILLed and started again ${KILL_ROUNDS} times, each gap about the heartbeat threshold`, async () => {
  const before = await snapshot();
  const started = await dbNow();
  for (let round = 0; round < KILL_ROUNDS; round += 1) {
    await system.process('agent').kill9();
    if (round % 2 === 1) {
      // Every other round the agent stays away until the scheduler has declared the host
      // silent (the event, not a guessed time): the case that restarted every container.
      await waitFor(async () => ((await host(hostA)).state === 'unreachable' ? true : undefined), { timeoutMs: 30_000, what: 'host A unreachable' });
    } else {
      // The others: this pause plus the new agent's boot (about a second here), around the
      // threshold, spread over the rounds (the issue: 5.4–8.6 s against 6 s).
      await sleep(Math.round(THRESHOLD_MS * (0.2 + (0.6 * round) / (KILL_ROUNDS - 1))));
    }
    await system.startAgent();
    await settledOnHostA(0, 1);
  }
  expectUntouched(before, await snapshot());
  const transitions = await hostTransitionsSince(started);
  // The gaps were long enough to matter: the host went silent in at least every other round,
  // and was adopted every time, never lost; its workloads only ever went unknown and back.
  expect(transitions.filter((to) => to === 'unreachable').length).toBeGreaterThanOrEqual(KILL_ROUNDS / 2);
  expect(new Set(transitions)).toEqual(new Set(['unreachable', 'ready']));
  expect(new Set(await workloadTransitionsSince(started))).toEqual(new Set(['unknown', 'running']));
}, 300_000);

it('restarts nothing when PostgreSQL is down for 20 s; creates meanwhile answer 503 with Retry-After, and succeed after', async () => {
  const before = await snapshot();
  const key = `during-outage-${hostA}`;
  const spec = containerSpec('during-outage', { resources: { cpuMillis: 100, memoryMiB: 32, pids: 32 } });
  const started = await dbNow();
  await pg.stop();
  const outageStarted = Date.now();
  const answers: Array<{ status: number; retryAfter: string | null; code: string }> = [];
  while (Date.now() - outageStarted < 20_000) {
    const res = await api.createWorkload(spec, { 'idempotency-key': key });
    answers.push({ status: res.status, retryAfter: res.headers.get('retry-after'), code: (res.body as Problem).code });
    await sleep(2_000);
  }
  await pg.start();
  const passes = await reconcilePasses();

  expect(answers.length).toBeGreaterThanOrEqual(5);
  for (const answer of answers) {
    expect(answer).toMatchObject({ status: 503, code: 'unavailable' });
    expect(Number(answer.retryAfter)).toBeGreaterThan(0);
  }
  // The same create, retried with its key, succeeds once the database is back.
  const created = await waitFor(
    async () => {
      const res = await api.createWorkload(spec, { 'idempotency-key': key });
      return res.status === 201 ? res.body : undefined;
    },
    { timeoutMs: 30_000, what: 'the create retried after the outage succeeds' },
  );
  const recovered = await dbNow();
  // What would have restarted them: the first sweeps after the database came back, judging
  // 20 s old timestamps. Wait until the scheduler has heard the host again and a whole
  // threshold has passed since, then look.
  await freshHeartbeatAfter(recovered);
  await sleep(THRESHOLD_MS + HEARTBEAT_MS);
  await settledOnHostA(passes);
  // The create's own container is not one of the eight: gone before the count.
  expect((await api.call('DELETE', `/v1/workloads/${created.id}`)).status).toBeLessThan(300);
  await waitFor(async () => ((await system.containerIds({ 'io.gureum.workload': created.id })).length === 0 ? true : undefined), { timeoutMs: 30_000, what: 'the outage create removed' });
  expectUntouched(before, await snapshot());
  // Heartbeats kept arriving: the host was never judged silent.
  expect(await hostTransitionsSince(started)).toEqual([]);
  expect(await workloadTransitionsSince(started)).toEqual([]);
}, 120_000);

it('restarts nothing when the agent is frozen past the heartbeat threshold within the grace window; meanwhile the host is unreachable and its workloads unknown', async () => {
  const before = await snapshot();
  system.freeze('agent');
  const frozenAt = Date.now();
  try {
    await waitFor(async () => ((await host(hostA)).state === 'unreachable' ? true : undefined), { timeoutMs: GRACE_MS / 2, what: 'host A unreachable' });
    for (const workload of [...containers, vm]) {
      await waitForWorkload(workload.id, (w) => w.state === 'unknown' && w.hostId === hostA, `${workload.name} unknown on A`, GRACE_MS / 2);
    }
    // Frozen for a while longer, still well inside the grace window.
    await sleep(Math.max(0, THRESHOLD_MS * 2 - (Date.now() - frozenAt)));
    expect(Date.now() - frozenAt).toBeLessThan(GRACE_MS - 2_000);
  } finally {
    system.thaw('agent');
  }
  await settledOnHostA(await reconcilePasses());
  expectUntouched(before, await snapshot());
}, 120_000);

it('past the grace window declares the host lost and re-places its containers on a second host (the VM waits for its host)', async () => {
  const hostB = system.extraNodeIds[0]!;
  await system.startAgent(1);
  await waitFor(async () => ((await host(hostB)).state === 'ready' ? true : undefined), { timeoutMs: 30_000, what: 'host B ready' });

  system.freeze('agent');
  try {
    await waitFor(async () => ((await host(hostA)).state === 'unreachable' ? true : undefined), { timeoutMs: 10_000, what: 'host A unreachable' });
    // Within the window nothing moves.
    expect((await api.getWorkload(containers[0]!.id)).body).toMatchObject({ state: 'unknown', hostId: hostA });
    await waitFor(async () => ((await host(hostA)).state === 'lost' ? true : undefined), { timeoutMs: GRACE_MS + 15_000, what: 'host A lost' });
    for (const workload of containers) await waitForWorkload(workload.id, (w) => w.state === 'running' && w.hostId === hostB, `${workload.name} re-placed on B`);
    expect((await api.getWorkload(vm.id)).body).toMatchObject({ state: 'lost', hostId: hostA });
  } finally {
    system.thaw('agent');
  }
  // A's agent comes back to assignments without the containers (it fenced them, or removes them now): one copy each, on B.
  await waitFor(async () => ((await host(hostA)).state === 'ready' ? true : undefined), { timeoutMs: 30_000, what: 'host A back' });
  await waitFor(async () => ((await system.containerIds()).length === 0 ? true : undefined), { timeoutMs: 30_000, what: 'no container left on A' });
  for (const workload of containers) expect(await system.containerIds({ 'io.gureum.workload': workload.id }, hostB)).toHaveLength(1);
  await waitForWorkload(vm.id, (w) => w.state === 'running' && w.hostId === hostA, 'the VM running on A again');
}, 120_000);
