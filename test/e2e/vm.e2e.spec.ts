/**
 * VMs end to end, through the public API, with real QEMU (TCG) under two agents running the
 * vm driver: boot to the guest's marker on the console endpoint (plain and follow), pause
 * (the guest's heartbeat counter stops) and resume, memory snapshot → run on → restore (the
 * counter goes back), bad input answered with clear problems and no state change, and a live
 * migration to the second agent with the counter continuing there.
 */
import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { UsageSampleSchema, type UsageSample } from '@gureum/contracts';
import { connectNats } from '@gureum/messaging';
import { ensureBusyboxImage, sleep, waitFor } from '@gureum/testing';
import { ApiClient, containerSpec, type Problem, type Workload, waitForWorkloadState } from './support/api-client';
import { System } from './support/system';
import { consoleText as consoleOf, heartbeats, removeVms } from './support/vm';

const exec = promisify(execFile);
const ROOT = path.resolve(__dirname, '../..');
const TEMPLATES = path.join(ROOT, '.gureum/images/vm');
const MARKER = 'GUREUM-GUEST-READY';

jest.setTimeout(240_000);

const system = new System({
  label: 'vm',
  agentCapacity: { cpuMillis: 2000, memoryMiB: 2048, pids: 4096 },
  // Both drivers on one agent: each assignment must reach the driver of its kind.
  agent: { drivers: 'docker,vm', env: { GUREUM_AGENT_VM_TEMPLATES: TEMPLATES, GUREUM_AGENT_VM_ACCEL: 'tcg', GUREUM_AGENT_SAMPLE_MS: '1000' } },
  extraAgents: 1,
});
let owner: ApiClient;
let ownerKey: string;
let other: ApiClient;
let operator: ApiClient;
let vmId: string;

interface VmWorkload extends Workload {
  kind: string;
  vm: { diskGiB: number } | null;
}

const vmSpec = (name: string, overrides: Record<string, unknown> = {}) => ({
  name,
  kind: 'vm',
  image: 'tiny',
  resources: { cpuMillis: 1000, memoryMiB: 128 },
  vm: { diskGiB: 1 },
  ...overrides,
});

beforeAll(async () => {
  // Builds the tiny guest template once per machine (cached; a no-op when present).
  if (!(await access(path.join(TEMPLATES, 'tiny', 'template.json')).then(() => true, () => false))) {
    await exec('bash', [path.join(ROOT, 'deploy/images/vm-guest.sh')], { cwd: ROOT, timeout: 600_000 });
  }
  await ensureBusyboxImage();
  await system.start();
  await system.startAgent(1);
  await waitFor(
    async () => {
      const { rows } = await system.query<{ id: string }>(`SELECT id FROM scheduler.hosts WHERE state = 'ready' AND 'vm' = ANY(drivers) AND 'vm-template+tiny' = ANY(images)`);
      return rows.length === 2 ? true : undefined;
    },
    { timeoutMs: 60_000, what: 'both vm hosts ready with the tiny template' },
  );
  const a = await system.createTenant(`vm-a-${system.nodeId}`);
  const b = await system.createTenant(`vm-b-${system.nodeId}`);
  ownerKey = a.apiKey;
  owner = new ApiClient(system.apiUrl, a.apiKey);
  other = new ApiClient(system.apiUrl, b.apiKey);
  operator = new ApiClient(system.apiUrl, await system.createOperatorKey('vm-ops'));
}, 900_000);

afterAll(async () => {
  await removeVms(owner, vmId ? [vmId] : [], system.nodeId);
  await system.stop();
}, 120_000);

function waitForState(id: string, states: string[], timeoutMs = 90_000): Promise<VmWorkload> {
  return waitForWorkloadState<VmWorkload>(owner, id, states, { timeoutMs, intervalMs: 250 });
}

function consoleText(id: string): Promise<string> {
  return consoleOf(owner, id);
}

function lastHeartbeat(text: string): number {
  const all = heartbeats(text);
  return all.length > 0 ? all[all.length - 1]! : -1;
}

async function waitForConsole(id: string, predicate: (text: string) => boolean, what: string, timeoutMs = 90_000): Promise<string> {
  let last = '';
  return waitFor(
    async () => {
      last = await consoleText(id);
      return predicate(last) ? last : undefined;
    },
    { timeoutMs, intervalMs: 300, what: `${what} (console tail: ${JSON.stringify(last.slice(-300))})` },
  );
}

describe('VMs through the API', () => {
  it('creates a VM, places it on a vm host, and boots it to the marker on the console', async () => {
    const created = await owner.createWorkload(vmSpec('tiny-e2e'));
    expect(created.status).toBe(201);
    const body = created.body as unknown as VmWorkload;
    expect(body.kind).toBe('vm');
    expect(body.vm).toEqual({ diskGiB: 1 });
    vmId = body.id;
    const running = await waitForState(vmId, ['running']);
    expect([system.nodeId, ...system.extraNodeIds]).toContain(running.hostId);
    await waitForConsole(vmId, (text) => text.includes(MARKER) && heartbeats(text).length > 0, 'guest marker and a heartbeat');
  });

  it('runs a container next to it on agents with both drivers, each through its own driver', async () => {
    const created = await owner.createWorkload(containerSpec('next-to-vm', { resources: { cpuMillis: 10, memoryMiB: 16, pids: 16 } }));
    expect(created.status).toBe(201);
    const container = await waitForState(created.body.id, ['running']);
    expect((created.body as unknown as VmWorkload).kind).toBe('container');
    expect(await system.containerIds({ 'io.gureum.workload': container.id })).toHaveLength(1);
    // The VM got no container, the container no QEMU.
    expect(await system.containerIds({ 'io.gureum.workload': vmId })).toEqual([]);
    const { stdout } = await exec('pgrep', ['-f', `gureum-${container.id}`]).catch(() => ({ stdout: '' }));
    expect(stdout.trim()).toBe('');
    expect((await owner.call('DELETE', `/v1/workloads/${container.id}`)).status).toBe(202);
  });

  it("samples the VM's cgroup for metering: CPU time and memory of its QEMU", async () => {
    const nc = await connectNats({ ...system.natsControl(), name: 'vm-usage-watch' });
    try {
      const samples: UsageSample[] = [];
      const subscription = nc.subscribe('agent.*.evt.usage.v1', {
        callback: (_error, msg) => {
          const parsed = UsageSampleSchema.safeParse(msg.json());
          if (parsed.success && parsed.data.workloadId === vmId) samples.push(parsed.data);
        },
      });
      await waitFor(async () => (samples.length >= 2 ? true : undefined), { timeoutMs: 30_000, what: 'two usage samples of the VM' });
      subscription.unsubscribe();
      const [first, second] = samples;
      expect(BigInt(second!.cpuUsageNs)).toBeGreaterThan(BigInt(first!.cpuUsageNs));
      // QEMU with a 128 MiB guest: tens of MiB at least, and within the cgroup's RAM + overhead limit.
      expect(second!.memoryBytes).toBeGreaterThan(16 * 1024 * 1024);
      expect(second!.memoryBytes).toBeLessThanOrEqual((128 + 160) * 1024 * 1024);
    } finally {
      await nc.close();
    }
  });

  it('streams new console output with follow=true until the client disconnects', async () => {
    const controller = new AbortController();
    const res = await fetch(`${system.apiUrl}/v1/workloads/${vmId}/console?follow=true`, {
      headers: { authorization: `Bearer ${ownerKey}` },
      signal: controller.signal,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const start = lastHeartbeat(await consoleText(vmId));
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let streamed = '';
    // The stream must deliver heartbeats the guest prints after we connected.
    while (lastHeartbeat(streamed) <= start + 2) {
      const { value, done } = await reader.read();
      if (done) break;
      streamed += decoder.decode(value, { stream: true });
    }
    controller.abort();
    expect(streamed).toContain(MARKER);
    expect(lastHeartbeat(streamed)).toBeGreaterThan(start + 2);
  });

  it('pauses (the guest counter stops) and resumes (it goes on)', async () => {
    const paused = await owner.call<VmWorkload>('POST', `/v1/workloads/${vmId}/pause`);
    expect(paused.status).toBe(202);
    expect(paused.body.state).toBe('paused');
    const atPause = lastHeartbeat(await consoleText(vmId));
    await sleep(3_000); // six guest heartbeats' worth
    expect(lastHeartbeat(await consoleText(vmId))).toBe(atPause);
    expect((await waitForState(vmId, ['paused'])).state).toBe('paused'); // the agent's reports agree

    const resumed = await owner.call<VmWorkload>('POST', `/v1/workloads/${vmId}/resume`);
    expect(resumed.status).toBe(202);
    expect(resumed.body.state).toBe('running');
    await waitForConsole(vmId, (text) => lastHeartbeat(text) > atPause + 1, 'counter advancing after resume');
  });

  it('snapshots with memory, runs on, and restores: the counter goes back to the snapshot', async () => {
    const created = await owner.call<{ name: string; withMemory: boolean }>('POST', `/v1/workloads/${vmId}/snapshots`, { name: 's1' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 's1', withMemory: true });
    const atSnapshot = lastHeartbeat(await consoleText(vmId));
    const list = await owner.call<{ items: Array<{ name: string }> }>('GET', `/v1/workloads/${vmId}/snapshots`);
    expect(list.body.items.map((item) => item.name)).toEqual(['s1']);

    const before = await waitForConsole(vmId, (text) => lastHeartbeat(text) > atSnapshot + 6, 'counter well past the snapshot');
    const restored = await owner.call<VmWorkload>('POST', `/v1/workloads/${vmId}/snapshots/s1/restore`);
    expect(restored.status).toBe(202);
    // After the restore the guest prints counter values it had already printed (from the snapshot on).
    await waitForConsole(
      vmId,
      (text) => heartbeats(text.slice(before.length)).some((n) => n <= atSnapshot + 3),
      'counter back near the snapshot after restore',
    );
    expect((await waitForState(vmId, ['running'])).state).toBe('running');
  });

  it('answers bad input with clear problems and changes nothing', async () => {
    const unknownTemplate = await owner.createWorkload(vmSpec('no-such', { image: 'no-such-template' }));
    expect(unknownTemplate.status).toBe(422);
    expect(unknownTemplate.body.code).toBe('image_unknown');
    expect(unknownTemplate.body.detail).toMatch(/VM template no-such-template/);

    const tooBig = await owner.createWorkload(vmSpec('too-big', { resources: { cpuMillis: 32_000, memoryMiB: 128 } }));
    expect(tooBig.status).toBe(422);
    expect(tooBig.body.code).toBe('resources_exceed_host');

    const fractional = await owner.createWorkload(vmSpec('half', { resources: { cpuMillis: 1500, memoryMiB: 128 } }));
    expect(fractional.status).toBe(400);

    const noSnapshot = await owner.call<Problem>('POST', `/v1/workloads/${vmId}/snapshots/not-mine/restore`);
    expect(noSnapshot.status).toBe(404);
    // Another tenant can neither see nor restore this VM's snapshots.
    const foreign = await other.call<Problem>('POST', `/v1/workloads/${vmId}/snapshots/s1/restore`);
    expect(foreign.status).toBe(404);
    const foreignConsole = await other.call<Problem>('GET', `/v1/workloads/${vmId}/console`);
    expect(foreignConsole.status).toBe(404);

    const sameHost = (await owner.call<VmWorkload>('GET', `/v1/workloads/${vmId}`)).body.hostId!;
    const toItself = await operator.call<Problem>('POST', `/v1/admin/workloads/${vmId}/migrate`, { targetHostId: sameHost, mode: 'live' });
    expect(toItself.status).toBe(400);
    const toNowhere = await operator.call<Problem>('POST', `/v1/admin/workloads/${vmId}/migrate`, { targetHostId: 'no-such-host', mode: 'live' });
    expect(toNowhere.status).toBe(404);
    const byTenant = await owner.call<Problem>('POST', `/v1/admin/workloads/${vmId}/migrate`, { mode: 'live' });
    expect(byTenant.status).toBe(403);

    const after = await owner.call<VmWorkload>('GET', `/v1/workloads/${vmId}`);
    expect(after.body).toMatchObject({ state: 'running', hostId: sameHost });
  });

  it('live-migrates to the other agent: same id, new host, the counter continues there', async () => {
    const before = await owner.call<VmWorkload>('GET', `/v1/workloads/${vmId}`);
    const source = before.body.hostId!;
    const lastOnSource = lastHeartbeat(await consoleText(vmId));
    const migrated = await operator.call<{ status: string; sourceHostId: string; targetHostId: string; downtimeMs: number | null; workload: VmWorkload }>(
      'POST',
      `/v1/admin/workloads/${vmId}/migrate`,
      { mode: 'live' },
    );
    expect(migrated.status).toBe(200);
    expect(migrated.body).toMatchObject({ status: 'completed', sourceHostId: source });
    expect(migrated.body.targetHostId).not.toBe(source);
    expect(migrated.body.workload).toMatchObject({ id: vmId, state: 'running', hostId: migrated.body.targetHostId });
    console.log(`live migration via API: downtime ${migrated.body.downtimeMs} ms`);

    // The console now comes from the destination, where the guest goes on counting.
    const there = await waitForConsole(vmId, (text) => heartbeats(text).length >= 2, 'heartbeats on the destination');
    expect(heartbeats(there)[0]!).toBeGreaterThanOrEqual(lastOnSource);
    expect((await waitForState(vmId, ['running'])).hostId).toBe(migrated.body.targetHostId);
    // The source let go of it: its claim moved, nothing is left allocated there for this VM.
    const { rows } = await system.query<{ host_id: string }>(`SELECT host_id FROM scheduler.claims WHERE workload_id = $1`, [vmId]);
    expect(rows).toEqual([{ host_id: migrated.body.targetHostId }]);
  });

  it('cold-migrates back: the guest shuts down, its disk moves, and it boots on the named host', async () => {
    const before = await owner.call<VmWorkload>('GET', `/v1/workloads/${vmId}`);
    const source = before.body.hostId!;
    const target = [system.nodeId, ...system.extraNodeIds].find((id) => id !== source)!;
    // The previous migration's leftovers on the target are gone once its reconciler removed the unowned copy.
    const leftover = path.join(ROOT, '.gureum-test', 'logs', `vm-${system.nodeId}`, target === system.nodeId ? 'agent-state' : 'agent-x1-state', 'vms', vmId);
    await waitFor(async () => ((await access(leftover).then(() => true, () => false)) ? undefined : true), { timeoutMs: 30_000, what: `old copy of ${vmId} removed on ${target}` });

    const migrated = await operator.call<{ status: string; targetHostId: string; error: string | null; workload: VmWorkload }>(
      'POST',
      `/v1/admin/workloads/${vmId}/migrate`,
      { mode: 'cold', targetHostId: target },
    );
    expect(migrated.status).toBe(200);
    expect(migrated.body).toMatchObject({ status: 'completed', targetHostId: target, error: null, workload: { id: vmId, state: 'running', hostId: target } });
    // A fresh boot there: the marker again, and the counter starting over.
    const text = await waitForConsole(vmId, (t) => t.includes(MARKER) && heartbeats(t).length >= 2, 'marker after the cold migration');
    expect(heartbeats(text)[0]!).toBeLessThanOrEqual(1);
    expect((await waitForState(vmId, ['running'])).hostId).toBe(target);
  });

  it('ends a console follow when the VM stops, and refuses to pause the stopped VM, leaving it stopped', async () => {
    const follow = await fetch(`${system.apiUrl}/v1/workloads/${vmId}/console?follow=true`, { headers: { authorization: `Bearer ${ownerKey}` } });
    expect(follow.status).toBe(200);
    const stop = await owner.call<VmWorkload>('POST', `/v1/workloads/${vmId}/stop`);
    expect(stop.status).toBe(202);
    // The streamed response ends by itself once the VM is no longer running (the guest's
    // power-off on the ACPI button is its last output).
    const streamed = await follow.text();
    expect(streamed).toContain(MARKER);
    await waitForState(vmId, ['stopped']);
    const pause = await owner.call<Problem>('POST', `/v1/workloads/${vmId}/pause`);
    expect(pause.status).toBe(409);
    expect(pause.body.code).toBe('invalid_state');
    expect((await owner.call<VmWorkload>('GET', `/v1/workloads/${vmId}`)).body.state).toBe('stopped');
  });
});
