/**
 * The vm driver against real QEMU (TCG), real cgroups and the tiny guest from
 * deploy/images/vm-guest.sh. One file, run in order: boots are the expensive part, so VMs are
 * reused across steps where a step does not depend on a fresh guest.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { createCgroupManager, type CgroupManager } from '@gureum/cgroups';

import type { TaskSpec } from '../driver';
import { connectQmpSocket } from './qmp-client';
import { DEFAULT_QEMU_USER, lookupUser } from './create-vm-driver';
import { LocalQemuHost } from './qemu-host';
import { EMULATOR_CPU_QUOTA_US, QEMU_MEMORY_OVERHEAD_MIB, VCPU_CGROUP, type QemuRunAs } from './vm-launch';
import { GUEST_READY_MARKER, VmDriver } from './vm.driver';

const execFileAsync = promisify(execFile);
const repoRoot = path.resolve(__dirname, '../../../../..');
const templateRoot = path.join(repoRoot, '.gureum/images/vm');
const runDir = path.join(repoRoot, '.gureum-test', `vm-${randomUUID().slice(0, 8)}`);
const socketDir = path.join(os.tmpdir(), `gureum-vm-test-${randomUUID().slice(0, 8)}`);
const nodeId = 'vm-int-node';

jest.setTimeout(120_000);

let cgroups: CgroupManager;
const drivers: VmDriver[] = [];
const spawnedPids = new Set<number>();
/** QEMU runs as the deploy scripts' unprivileged user (ci.sh creates it), as the agent runs it. */
let qemuUser: QemuRunAs | null = null;

class TrackingQemuHost extends LocalQemuHost {
  override async spawnQemu(...args: Parameters<LocalQemuHost['spawnQemu']>) {
    const spawned = await super.spawnQemu(...args);
    spawnedPids.add(spawned.pid);
    return spawned;
  }
}

function newDriver(stateName: string, accelerator: 'auto' | 'tcg' = 'tcg'): VmDriver {
  const driver = new VmDriver({
    stateDir: path.join(runDir, stateName),
    templateRoot,
    cgroups,
    host: new TrackingQemuHost('qemu-system-x86_64', 'qemu-img', qemuUser),
    connectQmp: connectQmpSocket,
    accelerator,
    socketDir,
    probeTimeoutMs: 6_000,
  });
  drivers.push(driver);
  return driver;
}

/** The threads of a QEMU whose cpu cgroup is the VM's vCPU sub-group (from /proc/<pid>/task/<tid>/cgroup). */
async function vcpuThreads(pid: number): Promise<number[]> {
  const found: number[] = [];
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    const lines = (await readFile(`/proc/${pid}/task/${tid}/cgroup`, 'utf8').catch(() => '')).split('\n');
    if (lines.some((line) => /:(.*,)?cpu(,.*)?:/.test(line) && line.endsWith(`/${VCPU_CGROUP}`))) found.push(Number(tid));
  }
  return found;
}

/** CPU time (s) of some threads of a process, from /proc's utime + stime (clock ticks of 10 ms). */
async function threadCpuSeconds(pid: number, tids: number[]): Promise<number> {
  let ticks = 0;
  for (const tid of tids) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / 100;
}

function vmSpec(overrides: { kernelArgs?: string[]; cpuMillis?: number; vcpus?: number } = {}): TaskSpec {
  return {
    workloadId: randomUUID(),
    tenantId: 'tenant-vm',
    nodeId,
    generation: 1,
    image: 'tiny',
    resources: { cpuMillis: overrides.cpuMillis ?? 1000, memoryMiB: 128, pids: 100 },
    vm: { vcpus: overrides.vcpus ?? 1, diskGiB: 1, template: 'tiny', ...(overrides.kernelArgs ? { kernelArgs: overrides.kernelArgs } : {}) },
  };
}

async function consoleText(driver: VmDriver, handleId: string): Promise<string> {
  return readFile(driver.consoleLogPath(handleId), 'utf8').catch(() => '');
}

function heartbeats(text: string): number[] {
  return [...text.matchAll(/gureum-heartbeat (\d+)\r?\n/g)].map((match) => Number(match[1]));
}

async function waitForConsole(driver: VmDriver, handleId: string, predicate: (text: string) => boolean, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await consoleText(driver, handleId);
    if (predicate(text)) return text;
    if (Date.now() > deadline) throw new Error(`console of ${handleId} never matched; tail: ${text.slice(-300)}`);
    await sleep(100);
  }
}

async function lastHeartbeat(driver: VmDriver, handleId: string): Promise<number> {
  return heartbeats(await consoleText(driver, handleId)).at(-1) ?? 0;
}

async function waitForHeartbeatAbove(driver: VmDriver, handleId: string, value: number): Promise<number> {
  await waitForConsole(driver, handleId, (text) => (heartbeats(text).at(-1) ?? 0) > value);
  return lastHeartbeat(driver, handleId);
}

async function rawHead(image: string, bytes: number): Promise<string> {
  const out = path.join(runDir, `head-${randomUUID().slice(0, 8)}.raw`);
  await execFileAsync('qemu-img', ['convert', '-U', '-O', 'raw', image, out]);
  const data = await readFile(out);
  await rm(out, { force: true });
  return data.subarray(0, bytes).toString('latin1');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

beforeAll(async () => {
  qemuUser = await lookupUser(DEFAULT_QEMU_USER);
  await execFileAsync('bash', [path.join(repoRoot, 'deploy/images/vm-guest.sh'), path.join(templateRoot, 'tiny')], { timeout: 300_000 });
  await mkdir(runDir, { recursive: true });
  cgroups = await createCgroupManager();
}, 300_000);

afterAll(async () => {
  for (const driver of drivers) {
    for (const task of await driver.recover(nodeId).catch(() => [])) await driver.destroy(task.handleId).catch(() => undefined);
  }
  for (const pid of spawnedPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await rm(runDir, { recursive: true, force: true });
  await rm(socketDir, { recursive: true, force: true });
}, 120_000);

describe('VmDriver with real QEMU', () => {
  let agentA: VmDriver;
  let main: TaskSpec;
  let mainHandle: string;

  it('auto-detects the accelerator by booting a probe guest (TCG on these machines)', async () => {
    agentA = newDriver('agent-a', 'auto');
    await expect(agentA.resolveAccelerator()).resolves.toBe('tcg');
    const fingerprint = await agentA.fingerprint();
    expect(fingerprint).toMatchObject({ driver: 'vm', healthy: true, images: expect.arrayContaining(['tiny']) });
    expect(fingerprint.detail).toContain('accelerator tcg');
  });

  it('boots a guest to running with its marker on the serial console, inside cgroups carrying its quota', async () => {
    main = vmSpec();
    const requested = Date.now();
    const status = await agentA.start(main);
    const startReturned = Date.now() - requested;
    mainHandle = status.handleId;
    expect(status).toMatchObject({ state: 'running', workloadId: main.workloadId, generation: 1 });
    expect(status.pid).toEqual(expect.any(Number));
    await waitForConsole(agentA, mainHandle, (text) => text.includes(GUEST_READY_MARKER) && heartbeats(text).length > 0);
    console.log(`boot: start() returned in ${startReturned} ms, marker on the console after ${Date.now() - requested} ms`);

    const snapshot = await cgroups.readForPid(status.pid as number);
    // The vCPU thread alone in a sub-group with the VM's quota; QEMU as a whole gets the emulator allowance on top.
    const vcpus = await vcpuThreads(status.pid as number);
    expect(vcpus).toHaveLength(1);
    expect((await cgroups.readForPid(vcpus[0]!)).cpu).toMatchObject({ quotaUs: 100_000, periodUs: 100_000 });
    expect(snapshot.cpu).toMatchObject({ quotaUs: 100_000 + EMULATOR_CPU_QUOTA_US, periodUs: 100_000 });
    expect(snapshot.memory.limitBytes).toBe((128 + QEMU_MEMORY_OVERHEAD_MIB) * 1024 * 1024);
    expect(snapshot.pids.max).toBe(65);
    expect(snapshot.memory.usageBytes).toBeGreaterThan(32 * 1024 * 1024);
    // The same group through the driver's stats.
    const stats = await agentA.stats(mainHandle);
    expect(stats.limits).toEqual({ cpuQuotaUs: 100_000, cpuPeriodUs: 100_000, memoryBytes: snapshot.memory.limitBytes, pidsMax: 65 });
    // Starting the same generation again changes nothing.
    await expect(agentA.start(main)).resolves.toMatchObject({ state: 'running', pid: status.pid });
  });

  it('pauses (the guest counter stops) and resumes (it advances again)', async () => {
    await waitForHeartbeatAbove(agentA, mainHandle, 0);
    await agentA.pause(mainHandle);
    await expect(agentA.inspect(mainHandle)).resolves.toMatchObject({ state: 'paused' });
    await expect(agentA.pause(mainHandle)).rejects.toMatchObject({ code: 'invalid_state' });
    const frozen = await lastHeartbeat(agentA, mainHandle);
    await sleep(2_000);
    expect(await lastHeartbeat(agentA, mainHandle)).toBe(frozen);
    await agentA.resume(mainHandle);
    await expect(agentA.inspect(mainHandle)).resolves.toMatchObject({ state: 'running' });
    expect(await waitForHeartbeatAbove(agentA, mainHandle, frozen)).toBeGreaterThan(frozen);
  });

  it('snapshots with memory, runs on, and restores the guest counter from the snapshot', async () => {
    await waitForHeartbeatAbove(agentA, mainHandle, 2);
    const before = await lastHeartbeat(agentA, mainHandle);
    const info = await agentA.snapshot(mainHandle, 'snap1', { withMemory: true });
    const after = await lastHeartbeat(agentA, mainHandle);
    expect(info).toMatchObject({ name: 'snap1', withMemory: true });
    const disk = await agentA.snapshot(mainHandle, 'disk1', { withMemory: false });
    expect(disk).toMatchObject({ name: 'disk1', withMemory: false, vmStateBytes: 0 });
    await expect(agentA.snapshot(mainHandle, 'snap1', { withMemory: true })).rejects.toMatchObject({ code: 'invalid_spec' });

    const moved = await waitForHeartbeatAbove(agentA, mainHandle, after + 5);
    const logBefore = (await consoleText(agentA, mainHandle)).length;
    await agentA.restore(mainHandle, 'snap1');
    const text = await waitForConsole(agentA, mainHandle, (t) => heartbeats(t.slice(logBefore)).length > 0);
    const firstAfterRestore = heartbeats(text.slice(logBefore))[0] as number;
    expect(firstAfterRestore).toBeGreaterThanOrEqual(before);
    expect(firstAfterRestore).toBeLessThanOrEqual(after + 2);
    expect(firstAfterRestore).toBeLessThan(moved);

    // A disk-only snapshot cannot be applied under a running guest; unknown names are typed errors.
    await expect(agentA.restore(mainHandle, 'disk1')).rejects.toMatchObject({ code: 'invalid_state' });
    await expect(agentA.restore(mainHandle, 'nope')).rejects.toMatchObject({ code: 'snapshot_not_found' });
    await agentA.deleteSnapshot(mainHandle, 'disk1');
    expect((await agentA.listSnapshots(mainHandle)).map((s) => s.name)).toEqual(['snap1']);
  });

  it('a new driver instance (agent restart) recovers the running VM with the same QEMU pid', async () => {
    const pid = (await agentA.inspect(mainHandle))?.pid;
    await agentA.release();
    const restarted = newDriver('agent-a');
    const recovered = await restarted.recover(nodeId);
    expect(recovered).toEqual([expect.objectContaining({ handleId: mainHandle, state: 'running', pid })]);
    // It controls the VM: pause and resume through the new instance.
    await restarted.pause(mainHandle);
    await expect(restarted.inspect(mainHandle)).resolves.toMatchObject({ state: 'paused', pid });
    await restarted.resume(mainHandle);
    const now = await lastHeartbeat(restarted, mainHandle);
    expect(await waitForHeartbeatAbove(restarted, mainHandle, now)).toBeGreaterThan(now);
    agentA = restarted;
  });

  it('live-migrates to a second agent: the counter continues there, downtime is reported; a failed migration leaves the source running', async () => {
    const beforeMigration = await agentA.stats(mainHandle);
    console.log(`main VM (128 MiB guest) cgroup memory: usage ${beforeMigration.memoryBytes} bytes, peak ${beforeMigration.memoryPeakBytes} bytes`);
    const failed = await agentA.migrate(mainHandle, { host: '127.0.0.1', port: await freePort() });
    expect(failed.status).toBe('failed');
    await expect(agentA.inspect(mainHandle)).resolves.toMatchObject({ state: 'running' });
    const stillCounting = await lastHeartbeat(agentA, mainHandle);
    await waitForHeartbeatAbove(agentA, mainHandle, stillCounting);

    const agentB = newDriver('agent-b');
    const port = await freePort();
    const incoming = await agentB.prepareIncoming(main, { host: '127.0.0.1', port });
    expect(incoming.state).toBe('created');
    const result = await agentA.migrate(mainHandle, { host: '127.0.0.1', port });
    expect(result).toMatchObject({ status: 'completed', downtimeMs: expect.any(Number), totalTimeMs: expect.any(Number) });
    const sourceLast = await lastHeartbeat(agentA, mainHandle);
    await expect(agentA.inspect(mainHandle)).resolves.toMatchObject({ state: 'exited' });
    await expect(agentB.inspect(mainHandle)).resolves.toMatchObject({ state: 'running' });
    const text = await waitForConsole(agentB, mainHandle, (t) => heartbeats(t).length > 1);
    const first = heartbeats(text)[0] as number;
    expect(first).toBeGreaterThan(sourceLast - 1);
    expect(first).toBeLessThanOrEqual(sourceLast + 2);
    console.log(`live migration: total ${result.totalTimeMs} ms, downtime ${result.downtimeMs} ms, ${result.transferredBytes} bytes`);
    await agentA.destroy(mainHandle);
    await agentB.destroy(mainHandle);
    await expect(agentB.inspect(mainHandle)).resolves.toBeNull();
  });

  it('boots two VMs from one template with isolated disk writes, and powers one off with the ACPI button', async () => {
    const driver = newDriver('agent-c');
    const alpha = await driver.start(vmSpec({ kernelArgs: ['gureum.write=alpha'] }));
    const bravo = await driver.start(vmSpec({ kernelArgs: ['gureum.write=bravo'] }));
    await waitForConsole(driver, alpha.handleId, (t) => t.includes(GUEST_READY_MARKER));
    await waitForConsole(driver, bravo.handleId, (t) => t.includes(GUEST_READY_MARKER));
    expect(await consoleText(driver, alpha.handleId)).toMatch(/gureum-disk alpha/);
    expect(await consoleText(driver, bravo.handleId)).toMatch(/gureum-disk bravo/);

    const vmDir = (handle: string) => path.join(runDir, 'agent-c', 'vms', handle, 'disk.qcow2');
    expect(await rawHead(vmDir(alpha.handleId), 5)).toBe('alpha');
    expect(await rawHead(vmDir(bravo.handleId), 5)).toBe('bravo');
    expect(await rawHead(path.join(templateRoot, 'tiny', 'disk.qcow2'), 20)).toBe('gureum-template-base');

    await driver.stop(alpha.handleId, 30);
    await expect(driver.inspect(alpha.handleId)).resolves.toMatchObject({ state: 'exited', pid: null });
    expect(await consoleText(driver, alpha.handleId)).toContain('GUREUM-GUEST-POWEROFF');
    await expect(driver.pause(alpha.handleId)).rejects.toMatchObject({ code: 'invalid_state' });

    await driver.destroy(alpha.handleId);
    await driver.destroy(bravo.handleId);
    await expect(cgroups.read(driver.cgroupName(alpha.handleId))).rejects.toMatchObject({ code: 'not_found' });
  });

  it('keeps a CPU-burning guest within its CPU quota, measured from the cgroup usage counter', async () => {
    const driver = newDriver('agent-d');
    const burner = await driver.start(vmSpec({ kernelArgs: ['gureum.burn=1'], cpuMillis: 500 }));
    await waitForConsole(driver, burner.handleId, (t) => t.includes(GUEST_READY_MARKER));
    const pid = burner.pid as number;
    const vcpus = await vcpuThreads(pid);
    expect(vcpus).toHaveLength(1);
    expect((await cgroups.readForPid(vcpus[0]!)).cpu.quotaUs).toBe(50_000);
    expect((await cgroups.readForPid(pid)).cpu.quotaUs).toBe(50_000 + EMULATOR_CPU_QUOTA_US);
    const start = await driver.stats(burner.handleId);
    const vcpuStart = await threadCpuSeconds(pid, vcpus);
    const startedAt = process.hrtime.bigint();
    await sleep(4_000);
    const end = await driver.stats(burner.handleId);
    const vcpuEnd = await threadCpuSeconds(pid, vcpus);
    const elapsedNs = Number(process.hrtime.bigint() - startedAt);
    const guestCpus = ((vcpuEnd - vcpuStart) * 1e9) / elapsedNs;
    const qemuCpus = Number(end.cpuUsageNs - start.cpuUsageNs) / elapsedNs;
    // The guest does burn (a loaded CI host gives a TCG guest less than its quota); the bounds that matter are the upper ones:
    // the guest's vCPU within the VM's quota, all of QEMU within that plus the emulator's allowance.
    expect(guestCpus).toBeGreaterThan(0.1);
    expect(guestCpus).toBeLessThan(0.5 * 1.1);
    expect(qemuCpus).toBeLessThan((0.5 + EMULATOR_CPU_QUOTA_US / 100_000) * 1.1);
    await driver.destroy(burner.handleId);
  });

  it('refuses bad input with typed errors', async () => {
    const driver = newDriver('agent-e');
    await expect(driver.start({ ...vmSpec(), vm: { vcpus: 1, diskGiB: 1, template: 'no-such-template' } })).rejects.toMatchObject({ code: 'image_not_found' });
    const { vm: _vm, ...withoutVm } = vmSpec();
    await expect(driver.start(withoutVm)).rejects.toMatchObject({ code: 'invalid_spec' });
    await expect(driver.pause('00000000-0000-0000-0000-000000000000')).rejects.toMatchObject({ code: 'invalid_state' });
  });
});
