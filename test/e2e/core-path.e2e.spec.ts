/**
 * The foundation's promise, end to end: a tenant asks the REST API for a container, the
 * scheduler places it on a Docker-host agent over NATS, and the agent runs it under cgroup
 * quotas that hold — checked in the kernel's own files on this host.
 */
import { createCgroupManager, type CgroupSnapshot } from '@gureum/cgroups';
import { ensureBusyboxImage, waitFor } from '@gureum/testing';
import { ApiClient, containerSpec, type Workload, waitForWorkloadState } from './support/api-client';
import { dockerInspect, System, type TenantCredentials } from './support/system';

const AGENT_MEMORY_MIB = 2048;
const system = new System({ label: 'core', agentCapacity: { cpuMillis: 2000, memoryMiB: AGENT_MEMORY_MIB, pids: 4096 } });
let tenantA: TenantCredentials;
let tenantB: TenantCredentials;
let apiA: ApiClient;
let apiB: ApiClient;

async function readForPid(pid: number): Promise<CgroupSnapshot> {
  return (await createCgroupManager()).readForPid(pid);
}

beforeAll(async () => {
  await ensureBusyboxImage();
  await system.start();
  tenantA = await system.createTenant('tenant-a');
  tenantB = await system.createTenant('tenant-b');
  apiA = new ApiClient(system.apiUrl, tenantA.apiKey);
  apiB = new ApiClient(system.apiUrl, tenantB.apiKey);
}, 180_000);

afterAll(async () => {
  await system.stop();
}, 60_000);

function waitForState(api: ApiClient, id: string, states: string[], timeoutMs = 20_000): Promise<Workload> {
  return waitForWorkloadState(api, id, states, { timeoutMs });
}

async function containerOf(workloadId: string): Promise<string> {
  return waitFor(
    async () => {
      const ids = await system.containerIds({ 'io.gureum.workload': workloadId });
      return ids.length === 1 ? ids[0] : undefined;
    },
    { timeoutMs: 10_000, what: `container of ${workloadId}` },
  );
}

async function deleteAndWait(api: ApiClient, id: string): Promise<void> {
  const res = await api.call('DELETE', `/v1/workloads/${id}`);
  expect([200, 202]).toContain(res.status);
  await waitForState(api, id, ['deleted']);
}

describe('a container under enforced quotas', () => {
  it('reaches running within 10 s with the cgroup limits it asked for', async () => {
    const created = await apiA.createWorkload(containerSpec('quota-check'));
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(`/v1/workloads/${created.body.id}`);
    const running = await waitForState(apiA, created.body.id, ['running'], 10_000);
    expect(running.hostId).toBe(system.nodeId);

    const containerId = await containerOf(created.body.id);
    const { pid } = await dockerInspect(containerId);
    const cgroup = await readForPid(pid);
    expect(cgroup.cpu.quotaUs).toBe(50_000);
    expect(cgroup.cpu.periodUs).toBe(100_000);
    expect(cgroup.memory.limitBytes).toBe(67_108_864);
    expect(cgroup.pids.max).toBe(64);

    await deleteAndWait(apiA, created.body.id);
    expect(await system.containerIds({ 'io.gureum.workload': created.body.id })).toEqual([]);
    const claims = await system.query(`SELECT 1 FROM scheduler.claims WHERE workload_id = $1`, [created.body.id]);
    expect(claims.rows).toHaveLength(0);
  });

  it('holds a CPU burner to its 500 millicores', async () => {
    const created = await apiA.createWorkload(containerSpec('burner', { command: ['sh', '-c', 'while :; do :; done'] }));
    expect(created.status).toBe(201);
    await waitForState(apiA, created.body.id, ['running']);
    const { pid } = await dockerInspect(await containerOf(created.body.id));

    const before = await readForPid(pid);
    const startedAt = process.hrtime.bigint();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const after = await readForPid(pid);
    const wallNs = Number(process.hrtime.bigint() - startedAt);
    const cpus = Number(after.cpu.usageNs - before.cpu.usageNs) / wallNs;

    // The burner must really burn (else the bound proves nothing) and stay under the quota.
    expect(cpus).toBeGreaterThan(0.3);
    expect(cpus).toBeLessThanOrEqual(0.55);
    await deleteAndWait(apiA, created.body.id);
  });

  it('ends a memory hog as failed with reason oom_killed', async () => {
    const created = await apiA.createWorkload(
      containerSpec('hog', { command: ['sh', '-c', 'x=aaaaaaaaaaaaaaaa; while true; do x="$x$x"; done'], resources: { cpuMillis: 500, memoryMiB: 16, pids: 16 } }),
    );
    expect(created.status).toBe(201);
    const failed = await waitForState(apiA, created.body.id, ['failed'], 30_000);
    expect(failed.reason).toBe('oom_killed');
    await deleteAndWait(apiA, created.body.id);
  });
});

describe('lifecycle', () => {
  it('stop, start and delete do what they say', async () => {
    const created = await apiA.createWorkload(containerSpec('lifecycle'));
    await waitForState(apiA, created.body.id, ['running']);
    const containerId = await containerOf(created.body.id);

    const stop = await apiA.call<Workload>('POST', `/v1/workloads/${created.body.id}/stop`);
    expect(stop.status).toBe(202);
    await waitForState(apiA, created.body.id, ['stopped']);
    expect((await dockerInspect(containerId)).running).toBe(false);

    const start = await apiA.call<Workload>('POST', `/v1/workloads/${created.body.id}/start`);
    expect(start.status).toBe(202);
    await waitForState(apiA, created.body.id, ['running']);
    expect(await containerOf(created.body.id)).toBe(containerId);
    expect((await dockerInspect(containerId)).running).toBe(true);

    await deleteAndWait(apiA, created.body.id);
    expect(await system.containerIds({ 'io.gureum.workload': created.body.id })).toEqual([]);
    const claims = await system.query(`SELECT 1 FROM scheduler.claims WHERE workload_id = $1`, [created.body.id]);
    expect(claims.rows).toHaveLength(0);
  });

  it("never shows tenant A's workload to tenant B", async () => {
    const created = await apiA.createWorkload(containerSpec('private'));
    expect(created.status).toBe(201);
    const id = created.body.id;
    for (const [method, path] of [
      ['GET', `/v1/workloads/${id}`],
      ['POST', `/v1/workloads/${id}/stop`],
      ['POST', `/v1/workloads/${id}/start`],
      ['DELETE', `/v1/workloads/${id}`],
    ] as const) {
      const res = await apiB.call(method, path);
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 404 });
      expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    }
    const listB = await apiB.call<{ items: Workload[] }>('GET', '/v1/workloads');
    expect(listB.body.items.map((w) => w.id)).not.toContain(id);
    const listA = await apiA.call<{ items: Workload[] }>('GET', '/v1/workloads');
    expect(listA.body.items.map((w) => w.id)).toContain(id);
    await deleteAndWait(apiA, id);
  });

  it('keeps a running workload untouched when the agent is SIGKILLed and restarted', async () => {
    const created = await apiA.createWorkload(containerSpec('survivor'));
    await waitForState(apiA, created.body.id, ['running']);
    const containerId = await containerOf(created.body.id);
    const before = await dockerInspect(containerId);

    await system.process('agent').kill9();
    await system.startAgent();
    await system.waitForHostReady();
    // Give the new agent a few reconcile passes to (wrongly) act on the container.
    await waitFor(
      async () => {
        const { rows } = await system.query<{ n: string }>(`SELECT count(*)::text AS n FROM scheduler.hosts WHERE id = $1 AND last_heartbeat_at > now() - interval '1 second'`, [system.nodeId]);
        return rows[0]?.n === '1' ? true : undefined;
      },
      { timeoutMs: 10_000, what: 'fresh heartbeat from the restarted agent' },
    );
    await new Promise((resolve) => setTimeout(resolve, 5000));

    expect(await containerOf(created.body.id)).toBe(containerId);
    const after = await dockerInspect(containerId);
    expect(after.running).toBe(true);
    expect(after.pid).toBe(before.pid);
    expect(after.startedAt).toBe(before.startedAt);
    expect((await apiA.getWorkload(created.body.id)).body.state).toBe('running');
    await deleteAndWait(apiA, created.body.id);
  });

  it('leaves a workload that fits no host pending with a readable reason', async () => {
    // Memory is never overcommitted (CPU is, 4x by default): two of these cannot share the host.
    const big = containerSpec('big-1', { resources: { cpuMillis: 500, memoryMiB: Math.floor(AGENT_MEMORY_MIB * 0.6), pids: 64 } });
    const first = await apiA.createWorkload(big);
    expect(first.status).toBe(201);
    await waitForState(apiA, first.body.id, ['running']);
    const second = await apiA.createWorkload({ ...big, name: 'big-2' });
    expect(second.status).toBe(201);
    expect(second.body.state).toBe('pending');
    expect(second.body.reason).toMatch(/no .*host.*room/i);

    await deleteAndWait(apiA, first.body.id);
    // Capacity freed: the pending one is placed.
    await waitForState(apiA, second.body.id, ['running']);
    await deleteAndWait(apiA, second.body.id);
  });
});

describe('bad input', () => {
  const cases: Array<[string, number, () => Promise<{ status: number; body: unknown; headers: Headers }>]> = [
    ['zero CPU', 400, () => apiA.createWorkload(containerSpec('bad-zero', { resources: { cpuMillis: 0, memoryMiB: 64, pids: 64 } }))],
    ['negative memory', 400, () => apiA.createWorkload(containerSpec('bad-neg', { resources: { cpuMillis: 500, memoryMiB: -64, pids: 64 } }))],
    ['larger than any host', 422, () => apiA.createWorkload(containerSpec('bad-huge', { resources: { cpuMillis: 64_000, memoryMiB: 64, pids: 64 } }))],
    ['unknown image', 422, () => apiA.createWorkload(containerSpec('bad-image', { image: 'nobody/nothing:1' }))],
    ['unknown field', 400, () => apiA.createWorkload(containerSpec('bad-field', { privileged: true }))],
    ['10 MB body', 413, () => apiA.createWorkload(containerSpec('bad-big', { command: ['sh', '-c', 'x'.repeat(10 * 1024 * 1024)] }))],
    ['malformed JSON', 400, () => apiA.call('POST', '/v1/workloads', '{"name":')],
    ['malformed id', 400, () => apiA.call('GET', '/v1/workloads/not-a-uuid')],
    ['missing key', 401, () => new ApiClient(system.apiUrl, null).createWorkload(containerSpec('bad-nokey'))],
    ['wrong key', 401, () => new ApiClient(system.apiUrl, 'grm_aaaaaaaaaaaa_bm90LWEta2V5').createWorkload(containerSpec('bad-key'))],
  ];

  it.each(cases)('%s → %d problem+json, nothing created', async (_name, status, send) => {
    const workloadsBefore = await system.query<{ n: string }>(`SELECT count(*)::text AS n FROM scheduler.workloads`);
    const containersBefore = await system.containerIds();
    const res = await send();
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    const problem = res.body as { status: number; code: string; detail: string };
    expect(problem.status).toBe(status);
    expect(typeof problem.code).toBe('string');
    expect(problem.detail.length).toBeGreaterThan(0);
    const workloadsAfter = await system.query<{ n: string }>(`SELECT count(*)::text AS n FROM scheduler.workloads`);
    expect(workloadsAfter.rows[0]?.n).toBe(workloadsBefore.rows[0]?.n);
    expect(await system.containerIds()).toEqual(containersBefore);
  });
});
