/**
 * Draining a host live-migrates its VM, end to end with real QEMU (TCG) under two agents with
 * `--driver docker,vm`: a VM placed on agent A (B cordoned while it is placed), then
 * `POST /v1/admin/hosts/{A}/drain`; the VM ends up running on B with the same workload id,
 * the guest's heartbeat counter on `/console` continues from where it was (a live migration,
 * not a reboot), A's QEMU is gone and A's drain reports done.
 */
import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from '@gureum/testing';
import { ApiClient, type Workload } from './support/api-client';
import { System } from './support/system';
import { consoleText as consoleOf, heartbeats, removeVms } from './support/vm';

const exec = promisify(execFile);
const ROOT = path.resolve(__dirname, '../..');
const TEMPLATES = path.join(ROOT, '.gureum/images/vm');
const MARKER = 'GUREUM-GUEST-READY';

jest.setTimeout(240_000);

const system = new System({
  label: 'vm-drain',
  agentCapacity: { cpuMillis: 2000, memoryMiB: 2048, pids: 4096 },
  agent: { drivers: 'docker,vm', env: { GUREUM_AGENT_VM_TEMPLATES: TEMPLATES, GUREUM_AGENT_VM_ACCEL: 'tcg' } },
  extraAgents: 1,
});
let owner: ApiClient;
let operator: ApiClient;
let vmId = '';
let hostA = '';
let hostB = '';

interface HostView {
  id: string;
  state: string;
  workloadCount: number;
  drain: { total: number; remaining: number; done: boolean; blocked?: Array<{ workloadId: string; reason: string }> } | null;
}

beforeAll(async () => {
  if (!(await access(path.join(TEMPLATES, 'tiny', 'template.json')).then(() => true, () => false))) {
    await exec('bash', [path.join(ROOT, 'deploy/images/vm-guest.sh')], { cwd: ROOT, timeout: 600_000 });
  }
  await system.start();
  await system.startAgent(1);
  hostA = system.nodeId;
  hostB = system.extraNodeIds[0]!;
  await waitFor(
    async () => {
      const { rows } = await system.query<{ id: string }>(`SELECT id FROM scheduler.hosts WHERE state = 'ready' AND 'vm' = ANY(drivers) AND 'vm-template+tiny' = ANY(images)`);
      return rows.length === 2 ? true : undefined;
    },
    { timeoutMs: 60_000, what: 'both vm hosts ready with the tiny template' },
  );
  const tenant = await system.createTenant(`vm-drain-${system.nodeId}`);
  owner = new ApiClient(system.apiUrl, tenant.apiKey);
  operator = new ApiClient(system.apiUrl, await system.createOperatorKey('vm-drain-ops'));
}, 900_000);

afterAll(async () => {
  await removeVms(owner, vmId ? [vmId] : [], system.nodeId);
  await system.stop();
}, 120_000);

async function act(hostId: string, action: string): Promise<HostView> {
  const res = await operator.call<HostView>('POST', `/v1/admin/hosts/${hostId}/${action}`);
  if (res.status !== 200) throw new Error(`${action} ${hostId}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

function consoleText(id: string): Promise<string> {
  return consoleOf(owner, id);
}

/** QEMU processes of this VM (the command line names the workload's state dir). */
async function qemuPids(workloadId: string): Promise<string[]> {
  const { stdout } = await exec('pgrep', ['-f', `qemu-system.*${workloadId}`]).catch(() => ({ stdout: '' }));
  return stdout.split('\n').filter(Boolean);
}

it('drains host A: its running VM is live-migrated to B, same id, the guest counter continues, the drain is done', async () => {
  await act(hostB, 'cordon');
  const created = await owner.createWorkload({ name: 'drain-vm', kind: 'vm', image: 'tiny', resources: { cpuMillis: 1000, memoryMiB: 128 }, vm: { diskGiB: 1 } } as never);
  expect(created.status).toBe(201);
  vmId = created.body.id;
  await act(hostB, 'uncordon');
  const running = await waitFor(
    async () => {
      const res = await owner.call<Workload>('GET', `/v1/workloads/${vmId}`);
      return res.body.state === 'running' ? res.body : undefined;
    },
    { timeoutMs: 90_000, what: 'VM running' },
  );
  expect(running.hostId).toBe(hostA);
  const booted = await waitFor(
    async () => {
      const text = await consoleText(vmId);
      return text.includes(MARKER) && heartbeats(text).length >= 3 ? text : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 300, what: 'marker and three heartbeats on A' },
  );
  const beforeDrain = Math.max(...heartbeats(booted));
  const pidsOnA = await qemuPids(vmId);
  expect(pidsOnA).toHaveLength(1);

  const draining = await act(hostA, 'drain');
  expect(draining.state).toBe('draining');
  expect(draining.drain).toMatchObject({ total: 1 });

  const moved = await waitFor(
    async () => {
      const res = await owner.call<Workload>('GET', `/v1/workloads/${vmId}`);
      return res.body.state === 'running' && res.body.hostId === hostB ? res.body : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 250, what: 'VM running on B' },
  );
  expect(moved.id).toBe(vmId);

  // The console now comes from B's agent: it starts with B's part of the log (no marker, since
  // the guest did not boot again) and the counter goes on above what A had printed.
  const onB = await waitFor(
    async () => {
      const counts = heartbeats(await consoleText(vmId));
      return counts.length >= 2 ? counts : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 300, what: 'heartbeats from B' },
  );
  expect(onB[0]!).toBeGreaterThanOrEqual(beforeDrain);
  for (let i = 1; i < onB.length; i += 1) expect(onB[i]!).toBeGreaterThan(onB[i - 1]!);
  expect(await consoleText(vmId)).not.toContain(MARKER);

  const drained = await waitFor(
    async () => {
      const view = (await operator.call<HostView>('GET', `/v1/admin/hosts/${hostA}`)).body;
      return view.drain?.done ? view : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 500, what: 'drain of A done' },
  );
  expect(drained).toMatchObject({ state: 'draining', workloadCount: 0, drain: { total: 1, remaining: 0, done: true } });
  // A's QEMU quit after the migration; the one left is B's.
  await waitFor(async () => ((await qemuPids(vmId)).some((pid) => pidsOnA.includes(pid)) ? undefined : true), { timeoutMs: 30_000, what: "A's QEMU gone" });
  expect(await qemuPids(vmId)).toHaveLength(1);
  const { rows } = await system.query<{ target_host_id: string }>(`SELECT target_host_id FROM scheduler.migration_claims WHERE workload_id = $1`, [vmId]);
  expect(rows).toEqual([]);
  const claims = await system.query<{ host_id: string }>(`SELECT host_id FROM scheduler.claims WHERE workload_id = $1`, [vmId]);
  expect(claims.rows).toEqual([{ host_id: hostB }]);
});
