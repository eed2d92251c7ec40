/**
 * Metering end to end with a real agent: a container at 500 millicores is measured by the
 * agent's cgroup sampler and by its lifecycle, ingested by metering from JetStream, and read
 * back through `GET /v1/usage`. Allocated vCPU-seconds must match wall time × 0.5 and used
 * CPU-seconds the cgroup's own counter, each within 2%.
 */
import { createCgroupManager } from '@gureum/cgroups';
import { ensureBusyboxImage, waitFor } from '@gureum/testing';
import { ApiClient, containerSpec, type Workload, waitForWorkloadState } from './support/api-client';
import { dockerInspect, System, type TenantCredentials } from './support/system';

const system = new System({ label: 'metering', agentCapacity: { cpuMillis: 2000, memoryMiB: 2048, pids: 4096 }, metering: { sampleMs: 1000 } });
let tenant: TenantCredentials;
let other: TenantCredentials;
let api: ApiClient;
let otherApi: ApiClient;

interface UsageRow {
  periodStart: string;
  tenantId: string;
  meter: string;
  unit: string;
  workloadId: string | null;
  quantity: string;
}

beforeAll(async () => {
  await ensureBusyboxImage();
  await system.start();
  tenant = await system.createTenant('metered');
  other = await system.createTenant('bystander');
  api = new ApiClient(system.apiUrl, tenant.apiKey);
  otherApi = new ApiClient(system.apiUrl, other.apiKey);
}, 180_000);

afterAll(async () => {
  await system.stop();
}, 60_000);

function waitForState(id: string, states: string[], timeoutMs = 20_000): Promise<Workload> {
  return waitForWorkloadState(api, id, states, { timeoutMs });
}

async function usageOf(client: ApiClient, workloadId: string, from: Date): Promise<Map<string, number>> {
  const to = new Date(Date.now() + 3_600_000);
  const res = await client.call<{ rows: UsageRow[] }>('GET', `/v1/usage?from=${from.toISOString()}&to=${to.toISOString()}&groupBy=workload&granularity=hour`);
  expect(res.status).toBe(200);
  const totals = new Map<string, number>();
  for (const row of res.body.rows.filter((r) => r.workloadId === workloadId)) totals.set(row.meter, (totals.get(row.meter) ?? 0) + Number(row.quantity));
  return totals;
}

describe('metering a container at 500 millicores', () => {
  it('reports allocated vCPU-seconds = wall time × 0.5 and used CPU-seconds = the cgroup counter, within 2%', async () => {
    const from = new Date(Date.now() - 3_600_000);
    // Burns CPU (throttled to half a core) for 10 s, then sleeps: the counter then stands still.
    const created = await api.createWorkload(
      containerSpec('metered', { command: ['sh', '-c', 'end=$(($(date +%s)+10)); while [ $(date +%s) -lt $end ]; do :; done; exec sleep 3600'] }),
    );
    expect(created.status).toBe(201);
    const workloadId = created.body.id;
    await waitForState(workloadId, ['running']);
    const [containerId] = await system.containerIds({ 'io.gureum.workload': workloadId });
    const state = await dockerInspect(containerId as string);
    const cgroups = await createCgroupManager();

    // Wait for the burn to end: the counter stops moving.
    let previous = -1n;
    const counterNs = await waitFor(
      async () => {
        const now = (await cgroups.readForPid(state.pid)).cpu.usageNs;
        const settled = previous >= 0n && now - previous < 2_000_000n;
        previous = now;
        return settled ? now : undefined;
      },
      { timeoutMs: 40_000, intervalMs: 1000, what: 'the CPU burn to end' },
    );
    const readAt = new Date();
    // The first sample taken after our own reading, once ingested, bounds the same window.
    await waitFor(
      async () => {
        const { rows } = await system.query<{ n: number }>(`SELECT count(*)::int AS n FROM metering.samples WHERE workload_id = $1 AND sampled_at > $2`, [workloadId, readAt]);
        return (rows[0]?.n ?? 0) > 0 ? true : undefined;
      },
      { timeoutMs: 20_000, what: 'a sample after our reading to be ingested' },
    );
    const used = (await usageOf(api, workloadId, from)).get('cpu_seconds') ?? 0;
    const cgroupSeconds = Number(counterNs) / 1e9;
    expect(cgroupSeconds).toBeGreaterThan(2); // it really burned
    expect(Math.abs(used - cgroupSeconds) / cgroupSeconds).toBeLessThan(0.02);

    // Keep it allocated a while, so start/stop edges are small next to the period.
    const startedAt = Date.parse(state.startedAt);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, startedAt + 45_000 - Date.now())));
    const stopAt = Date.now();
    const stopped = await api.call('POST', `/v1/workloads/${workloadId}/stop`);
    expect(stopped.status).toBe(202);
    await waitForState(workloadId, ['stopped']);

    const wallSeconds = (stopAt - startedAt) / 1000;
    const allocated = await waitFor(
      async () => {
        const totals = await usageOf(api, workloadId, from);
        return totals.has('vcpu_seconds') ? totals : undefined;
      },
      { timeoutMs: 20_000, what: 'allocated time of the stopped workload' },
    );
    const vcpuSeconds = allocated.get('vcpu_seconds') ?? 0;
    expect(Math.abs(vcpuSeconds - wallSeconds * 0.5) / (wallSeconds * 0.5)).toBeLessThan(0.02);
    const gibHours = allocated.get('memory_gib_hours') ?? 0;
    expect(Math.abs(gibHours - (wallSeconds / 3600) * (64 / 1024)) / ((wallSeconds / 3600) * (64 / 1024))).toBeLessThan(0.02);

    // Another tenant sees none of it.
    expect((await usageOf(otherApi, workloadId, from)).size).toBe(0);
  }, 150_000);
});
