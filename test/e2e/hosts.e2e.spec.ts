/**
 * Hosts end to end with two real agents on this machine's Docker engine: the second agent
 * enrols itself with a one-time join token (no NATS user configured for it); a drain moves a
 * running container from agent A to agent B; and when agent A is SIGKILLed, its container is
 * re-placed on agent B, and A's copy is removed once A comes back.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { HostView } from '@gureum/contracts';
import { ensureBusyboxImage, waitFor } from '@gureum/testing';
import { ApiClient, containerSpec, type Workload } from './support/api-client';
import { dockerInspect, System, type TenantCredentials } from './support/system';

// A short disconnect grace window (default 60 s): the loss test waits through it.
const system = new System({
  label: 'hosts',
  agentCapacity: { cpuMillis: 2000, memoryMiB: 1024, pids: 1024 },
  secondAgent: true,
  schedulerEnv: { GUREUM_SCHEDULER_DISCONNECT_GRACE_MS: '3000' },
});
let tenant: TenantCredentials;
let api: ApiClient;
let ops: ApiClient;
let hostA: string;
let hostB: string;

beforeAll(async () => {
  await ensureBusyboxImage();
  await system.start();
  hostA = system.nodeId;
  hostB = system.secondNodeId;
  const operatorKey = await system.createOperatorKey('hosts-e2e-ops');
  ops = new ApiClient(system.apiUrl, operatorKey);
  await system.startSecondAgent(operatorKey);
  await waitFor(async () => (await host(hostB)).state === 'ready', { timeoutMs: 30_000, what: `enrolled host ${hostB} ready` });
  tenant = await system.createTenant('hosts-tenant');
  api = new ApiClient(system.apiUrl, tenant.apiKey);
}, 180_000);

afterAll(async () => {
  await system.stop();
}, 60_000);

async function host(id: string): Promise<HostView> {
  const res = await ops.call<HostView>('GET', `/v1/admin/hosts/${id}`);
  if (res.status !== 200) throw new Error(`GET host ${id}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

async function act(id: string, action: string): Promise<HostView> {
  const res = await ops.call<HostView>('POST', `/v1/admin/hosts/${id}/${action}`);
  if (res.status !== 200) throw new Error(`${action} ${id}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

async function waitForWorkload(id: string, accept: (w: Workload) => boolean, what: string, timeoutMs = 30_000): Promise<Workload> {
  let last: Workload | undefined;
  return waitFor(
    async () => {
      const res = await api.getWorkload(id);
      last = res.body;
      return res.status === 200 && accept(res.body) ? res.body : undefined;
    },
    { timeoutMs, what: `${what} (last: ${JSON.stringify(last)})` },
  );
}

/** The one running container of `workloadId` that agent `nodeId` made. */
async function runningContainerOn(nodeId: string, workloadId: string): Promise<string> {
  return waitFor(
    async () => {
      const ids = await system.containerIds({ 'io.gureum.workload': workloadId }, nodeId);
      if (ids.length !== 1) return undefined;
      return (await dockerInspect(ids[0]!)).running ? ids[0] : undefined;
    },
    { timeoutMs: 30_000, what: `a running container of ${workloadId} on ${nodeId}` },
  );
}

async function noContainerOn(nodeId: string, workloadId: string): Promise<void> {
  await waitFor(async () => ((await system.containerIds({ 'io.gureum.workload': workloadId }, nodeId)).length === 0 ? true : undefined), {
    timeoutMs: 30_000,
    what: `no container of ${workloadId} left on ${nodeId}`,
  });
}

/** A running workload on `onHost`: the other host is cordoned while it is placed. */
async function runningWorkloadOn(onHost: string, name: string): Promise<Workload> {
  const other = onHost === hostA ? hostB : hostA;
  await act(other, 'cordon');
  const created = await api.createWorkload(containerSpec(name));
  expect(created.status).toBe(201);
  await act(other, 'uncordon');
  const running = await waitForWorkload(created.body.id, (w) => w.state === 'running', `${name} running`);
  expect(running.hostId).toBe(onHost);
  await runningContainerOn(onHost, running.id);
  return running;
}

it('enrolled agent B with its join token: its own NKey, kept with mode 0600, no password anywhere', async () => {
  const file = path.join(system.secondAgentStateDir(), 'nats-credentials.json');
  expect((await stat(file)).mode & 0o777).toBe(0o600);
  const stored = JSON.parse(await readFile(file, 'utf8')) as { nodeId: string; publicKey: string; enrolled: boolean };
  expect(stored).toMatchObject({ nodeId: hostB, enrolled: true });
  const { rows } = await system.query<{ public_key: string }>(`SELECT public_key FROM scheduler.agent_credentials WHERE node_id = $1`, [hostB]);
  expect(rows).toEqual([{ public_key: stored.publicKey }]);
  expect(await system.readLogs()).toContain('enrolled: this node has NATS credentials of its own');
});

it('lists both hosts for operators only', async () => {
  const list = await ops.call<{ items: HostView[] }>('GET', '/v1/admin/hosts');
  expect(list.status).toBe(200);
  expect(list.body.items.map((h) => h.id).sort()).toEqual([hostA, hostB].sort());
  expect(list.body.items.every((h) => h.state === 'ready' && h.drivers.includes('docker'))).toBe(true);
  const asTenant = await api.call('GET', '/v1/admin/hosts');
  expect(asTenant.status).toBe(403);
  expect(asTenant.headers.get('content-type')).toBe('application/problem+json');
});

it('drains host A: its running container is re-created on B (same workload id) and removed from A', async () => {
  const workload = await runningWorkloadOn(hostA, 'drain-me');
  const before = await runningContainerOn(hostA, workload.id);

  const draining = await act(hostA, 'drain');
  expect(draining.state).toBe('draining');
  const moved = await waitForWorkload(workload.id, (w) => w.hostId === hostB && w.state === 'running', 'workload running on B');
  expect(moved.id).toBe(workload.id);
  const after = await runningContainerOn(hostB, workload.id);
  expect(after).not.toBe(before);
  await noContainerOn(hostA, workload.id);

  const drained = await waitFor(async () => {
    const view = await host(hostA);
    return view.drain?.done ? view : undefined;
  }, { timeoutMs: 10_000, what: 'drain of A done' });
  expect(drained).toMatchObject({ state: 'draining', workloadCount: 0, drain: { total: 1, remaining: 0, done: true } });
  // A drained host takes nothing new until uncordoned.
  await expect(act(hostA, 'cordon')).rejects.toThrow(/409/);
  expect((await act(hostA, 'uncordon')).state).toBe('ready');
}, 120_000);

it('re-places the container of a SIGKILLed agent on the other host, and the returning agent removes its stale copy', async () => {
  const workload = await runningWorkloadOn(hostA, 'survive-loss');
  const stale = await runningContainerOn(hostA, workload.id);

  await system.process('agent').stop('SIGKILL', 5_000);
  // Silent first (unreachable, workload unknown and still on A), lost only after the grace window.
  await waitFor(async () => ((await host(hostA)).state === 'unreachable' ? true : undefined), { timeoutMs: 30_000, what: 'host A unreachable' });
  await waitForWorkload(workload.id, (w) => w.state === 'unknown' && w.hostId === hostA, 'workload unknown on A');
  await waitFor(async () => ((await host(hostA)).state === 'lost' ? true : undefined), { timeoutMs: 30_000, what: 'host A lost' });
  const replaced = await waitForWorkload(workload.id, (w) => w.hostId === hostB && w.state === 'running', 'workload running on B after A was lost');
  expect(replaced.id).toBe(workload.id);
  await runningContainerOn(hostB, workload.id);
  // A's agent is dead, so its copy still runs: the next agent on A must remove it.
  expect((await dockerInspect(stale)).running).toBe(true);

  await system.startAgent();
  await waitFor(async () => ((await host(hostA)).state === 'ready' ? true : undefined), { timeoutMs: 30_000, what: 'host A back' });
  await noContainerOn(hostA, workload.id);
  // Still exactly one copy, on B.
  await runningContainerOn(hostB, workload.id);
  expect((await api.getWorkload(workload.id)).body).toMatchObject({ state: 'running', hostId: hostB });
}, 120_000);
