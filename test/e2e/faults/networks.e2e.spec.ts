/**
 * Issue 21: per-tenant Docker networks are removed when a tenant's last workload leaves the
 * host. Docker's default address pools hold about 30 bridge networks; if every tenant that
 * ever ran a container kept its network, the ~31st tenant's container would fail with
 * "could not find an available, non-overlapping IPv4 address pool".
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ensureBusyboxImage, waitFor } from '@gureum/testing';
import { ApiClient, containerSpec, type Workload, waitForWorkloadState } from '../support/api-client';
import { System, type TenantCredentials } from '../support/system';

const exec = promisify(execFile);
const system = new System({ label: 'faults-networks', agentCapacity: { cpuMillis: 4000, memoryMiB: 2048, pids: 4096 } });
const TENANTS = 40;
/** Tenants at a time: well under the pools, so the test measures leaks, not concurrency. */
const BATCH = 8;

beforeAll(async () => {
  await ensureBusyboxImage();
  await system.start();
}, 180_000);

afterAll(async () => {
  await system.stop();
}, 60_000);

function waitForState(api: ApiClient, id: string, states: string[], timeoutMs = 90_000): Promise<Workload> {
  return waitForWorkloadState(api, id, states, { timeoutMs });
}

async function tenantNetworkExists(tenant: TenantCredentials): Promise<boolean> {
  const { stdout } = await exec('docker', ['network', 'ls', '-q', '--filter', `name=^gureum-t-${tenant.id}$`]);
  return stdout.trim() !== '';
}

/** One tenant's whole life on the host: run a small container, see it run, delete it. */
async function runAndDelete(tenant: TenantCredentials): Promise<void> {
  const api = new ApiClient(system.apiUrl, tenant.apiKey);
  const created = await api.createWorkload(containerSpec('short', { resources: { cpuMillis: 20, memoryMiB: 16, pids: 16 } }));
  expect(created.status).toBe(201);
  const running = await waitForState(api, created.body.id, ['running', 'failed']);
  expect(running).toMatchObject({ state: 'running', reason: null });
  const deleted = await api.call('DELETE', `/v1/workloads/${created.body.id}`);
  expect(deleted.status).toBeLessThan(300);
  await waitForState(api, created.body.id, ['deleted']);
  await waitFor(async () => ((await tenantNetworkExists(tenant)) ? undefined : true), { timeoutMs: 30_000, what: `network of tenant ${tenant.name} removed` });
}

describe('per-tenant networks', () => {
  it(`${TENANTS} tenants come and go on one host; the next tenant's container still runs`, async () => {
    const tenants: TenantCredentials[] = [];
    for (let start = 0; start < TENANTS; start += BATCH) {
      const batch = await Promise.all(Array.from({ length: Math.min(BATCH, TENANTS - start) }, (_, i) => system.createTenant(`net${start + i}`)));
      tenants.push(...batch);
      await Promise.all(batch.map((tenant) => runAndDelete(tenant)));
    }
    for (const tenant of tenants) expect(await tenantNetworkExists(tenant)).toBe(false);

    const last = await system.createTenant(`net${TENANTS}`);
    const api = new ApiClient(system.apiUrl, last.apiKey);
    const created = await api.createWorkload(containerSpec('the-next-one', { resources: { cpuMillis: 20, memoryMiB: 16, pids: 16 } }));
    expect(created.status).toBe(201);
    expect(await waitForState(api, created.body.id, ['running', 'failed'])).toMatchObject({ state: 'running', reason: null });
    expect(await tenantNetworkExists(last)).toBe(true);
  }, 600_000);
});
