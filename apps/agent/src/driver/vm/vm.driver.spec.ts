import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import type { CgroupLimits, CgroupManager, CgroupSnapshot, CpuThreadSplit } from '@gureum/cgroups';

import type { TaskSpec } from '../driver';
import type { QmpClient } from './qmp-client';
import type { QemuHost, SpawnedQemu } from './qemu-host';
import type { QmpEvent } from './qmp-protocol';
import { EMULATOR_CPU_QUOTA_US, VCPU_CGROUP, type MigrationTuning } from './vm-launch';
import { VmDriver } from './vm.driver';

/** One fake QEMU: a run state QMP commands change, and an exit the test can trigger. */
class FakeQemu {
  status = 'running';
  alive = true;
  readonly commands: string[] = [];
  readonly parameters: Array<Record<string, unknown>> = [];
  /** `query-migrate` answers `active` this many times, then `completed`. */
  migrationPolls = 0;
  exitOnPowerdown = true;
  private resolveExit!: (code: number) => void;
  readonly exited = new Promise<number>((resolve) => (this.resolveExit = resolve));

  constructor(readonly pid: number, readonly args: string[]) {
    if (args.includes('-incoming')) this.status = 'inmigrate';
  }

  exit(code = 0): void {
    this.alive = false;
    this.resolveExit(code);
  }
}

class FakeHost implements QemuHost {
  readonly processes: FakeQemu[] = [];
  readonly events: string[] = [];
  private nextPid = 4000;

  async spawnQemu(args: string[], _stderr: string, beforeExec: (pid: number) => Promise<void>): Promise<SpawnedQemu> {
    const qemu = new FakeQemu(this.nextPid++, args);
    this.events.push(`spawn ${qemu.pid}`);
    await beforeExec(qemu.pid);
    this.events.push(`exec ${qemu.pid}`);
    this.processes.push(qemu);
    return { pid: qemu.pid, exited: qemu.exited };
  }
  async qemuImg(args: string[]): Promise<string> {
    this.events.push(`qemu-img ${args[0]}`);
    return '{}';
  }
  async isQemuProcess(pid: number): Promise<boolean> {
    return this.processes.some((qemu) => qemu.pid === pid && qemu.alive);
  }
  kill(pid: number): void {
    this.processes.find((qemu) => qemu.pid === pid)?.exit(137);
  }
  async version(): Promise<string> {
    return 'QEMU emulator version 7.2.22';
  }
  bySocket(socketPath: string): FakeQemu {
    const qemu = [...this.processes].reverse().find((candidate) => candidate.args.some((arg) => arg.includes(socketPath)));
    if (!qemu) throw new Error(`connect ENOENT ${socketPath}`);
    return qemu;
  }
}

function fakeQmp(qemu: FakeQemu): QmpClient {
  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));
  void qemu.exited.then(() => resolveClosed());
  return {
    greeting: { version: { qemu: { major: 7, minor: 2, micro: 22 }, package: '' }, capabilities: [] },
    async execute<T>(command: string, args?: Record<string, unknown>): Promise<T> {
      if (!qemu.alive) throw new Error('QMP connection closed');
      qemu.commands.push(command);
      switch (command) {
        case 'migrate-set-parameters':
          qemu.parameters.push(args ?? {});
          break;
        case 'query-migrate':
          if (qemu.migrationPolls-- > 0) return { status: 'active' } as T;
          qemu.status = 'postmigrate';
          return { status: 'completed', 'total-time': 700, downtime: 5, ram: { transferred: 1 } } as T;
        case 'query-status':
          return { status: qemu.status } as T;
        case 'query-cpus-fast':
          return [{ 'cpu-index': 0, 'thread-id': qemu.pid + 1 }] as T;
        case 'stop':
          qemu.status = 'paused';
          break;
        case 'cont':
          qemu.status = 'running';
          break;
        case 'system_powerdown':
          if (qemu.exitOnPowerdown) qemu.exit(0);
          break;
        case 'quit':
          qemu.exit(0);
          break;
      }
      return {} as T;
    },
    onEvent: (_listener: (event: QmpEvent) => void) => () => undefined,
    closed,
    close: () => resolveClosed(),
  };
}

class FakeCgroups implements CgroupManager {
  readonly version = 1 as const;
  readonly groups = new Map<string, { limits: CgroupLimits; pids: number[] }>();
  async create(name: string, limits: CgroupLimits): Promise<void> {
    this.groups.set(name, { limits, pids: this.groups.get(name)?.pids ?? [] });
  }
  async addProcess(name: string, pid: number): Promise<void> {
    const group = this.groups.get(name);
    if (!group) throw new Error(`no group ${name}`);
    group.pids.push(pid);
  }
  async read(name: string): Promise<CgroupSnapshot> {
    const group = this.groups.get(name);
    if (!group) throw new Error(`no group ${name}`);
    return {
      version: 1,
      cpu: { quotaUs: group.limits.cpuQuotaUs ?? null, periodUs: group.limits.cpuPeriodUs ?? 100_000, usageNs: 5n },
      memory: { limitBytes: group.limits.memoryBytes ?? null, usageBytes: 1, peakBytes: 2, oomKills: 0 },
      pids: { max: group.limits.pidsMax ?? null, current: group.pids.length },
      hostPaths: { cpu: '', cpuacct: '', memory: '', pids: '' },
    };
  }
  async readForPid(): Promise<CgroupSnapshot> {
    throw new Error('unused');
  }
  async destroy(name: string): Promise<void> {
    this.groups.delete(name);
  }
}

/** A v1-like manager that can put single threads in a cpu-only sub-group. */
class FakeSplittingCgroups extends FakeCgroups implements CpuThreadSplit {
  readonly splits: Array<{ name: string; child: string; threadIds: number[]; quota: { periodUs: number; childQuotaUs: number; groupQuotaUs: number } }> = [];
  readonly destroyed: string[] = [];
  async splitCpuThreads(name: string, child: string, threadIds: number[], quota: { periodUs: number; childQuotaUs: number; groupQuotaUs: number }): Promise<void> {
    const group = this.groups.get(name);
    if (!group) throw new Error(`no group ${name}`);
    this.splits.push({ name, child, threadIds, quota });
    group.limits = { ...group.limits, cpuQuotaUs: quota.groupQuotaUs };
  }
  override async destroy(name: string): Promise<void> {
    this.destroyed.push(name);
    await super.destroy(name);
  }
}

let root: string;
let host: FakeHost;
let cgroups: FakeCgroups;
let drivers: VmDriver[] = [];

function driver(migration?: MigrationTuning): VmDriver {
  const created = new VmDriver({
    stateDir: path.join(root, 'state'),
    templateRoot: path.join(root, 'templates'),
    cgroups,
    host,
    connectQmp: async (socketPath) => fakeQmp(host.bySocket(socketPath)),
    accelerator: 'tcg',
    socketDir: path.join(root, 'sockets'),
    ...(migration ? { migration } : {}),
  });
  drivers.push(created);
  return created;
}

function spec(generation = 1): TaskSpec {
  return {
    workloadId: 'wl-1',
    tenantId: 'tenant-1',
    nodeId: 'node-1',
    generation,
    image: 'tiny',
    resources: { cpuMillis: 1000, memoryMiB: 128, pids: 10 },
    vm: { vcpus: 1, diskGiB: 1, template: 'tiny' },
  };
}

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'vm-driver-spec-'));
  await mkdir(path.join(root, 'templates', 'tiny'), { recursive: true });
  await writeFile(
    path.join(root, 'templates', 'tiny', 'template.json'),
    JSON.stringify({ kernel: 'vmlinuz', initrd: 'initrd.gz', disk: 'disk.qcow2', cmdline: 'console=ttyS0' }),
  );
  host = new FakeHost();
  cgroups = new FakeCgroups();
});

afterEach(async () => {
  // A recovered VM is watched by polling its pid; letting go ends the polling.
  for (const created of drivers) await created.release();
  drivers = [];
  await rm(root, { recursive: true, force: true });
});

describe('VmDriver bookkeeping (fake QEMU)', () => {
  it('puts QEMU in its cgroup before it execs, and starts once per generation', async () => {
    const vm = driver();
    const status = await vm.start(spec());
    expect(status).toMatchObject({ handleId: 'wl-1', state: 'running', pid: 4000, generation: 1 });
    const group = cgroups.groups.get(vm.cgroupName('wl-1'));
    expect(group).toEqual({ limits: expect.objectContaining({ cpuQuotaUs: 100_000, pidsMax: 65 }), pids: [4000] });
    expect(host.events).toEqual(['qemu-img create', 'spawn 4000', 'exec 4000']);

    await expect(vm.start(spec())).resolves.toMatchObject({ pid: 4000 });
    await expect(vm.start(spec(2))).resolves.toMatchObject({ pid: 4000, generation: 2 });
    await expect(vm.start(spec(1))).rejects.toMatchObject({ code: 'stale_generation' });
    expect(host.processes).toHaveLength(1);
  });

  it('moves the vCPU threads into a sub-group with the VM quota; QEMU as a whole gets the emulator allowance on top', async () => {
    const splitting = new FakeSplittingCgroups();
    cgroups = splitting;
    const vm = driver();
    const status = await vm.start(spec());
    const name = vm.cgroupName('wl-1');
    expect(splitting.splits).toEqual([
      { name, child: VCPU_CGROUP, threadIds: [(status.pid as number) + 1], quota: { periodUs: 100_000, childQuotaUs: 100_000, groupQuotaUs: 100_000 + EMULATOR_CPU_QUOTA_US } },
    ]);
    // The VM's CPU limit as reported is its vCPUs' quota, not the group's.
    await expect(vm.stats('wl-1')).resolves.toMatchObject({ limits: { cpuQuotaUs: 100_000 } });
    await vm.destroy('wl-1');
    expect(splitting.destroyed).toEqual([`${name}/${VCPU_CGROUP}`, name]);
  });

  it('pauses only a running VM and resumes only a paused one', async () => {
    const vm = driver();
    await vm.start(spec());
    await expect(vm.resume('wl-1')).rejects.toMatchObject({ code: 'invalid_state' });
    await vm.pause('wl-1');
    await expect(vm.inspect('wl-1')).resolves.toMatchObject({ state: 'paused' });
    await expect(vm.pause('wl-1')).rejects.toMatchObject({ code: 'invalid_state' });
    await vm.resume('wl-1');
    await expect(vm.inspect('wl-1')).resolves.toMatchObject({ state: 'running' });
  });

  it('stops gracefully with the power button, and quits QEMU when the guest ignores it', async () => {
    const vm = driver();
    await vm.start(spec());
    await vm.stop('wl-1', 1);
    expect(host.processes[0]?.commands).toContain('system_powerdown');
    expect(host.processes[0]?.commands).not.toContain('quit');
    await expect(vm.inspect('wl-1')).resolves.toMatchObject({ state: 'exited', pid: null, exitCode: 0 });
    await expect(vm.pause('wl-1')).rejects.toMatchObject({ code: 'invalid_state' });
    await expect(vm.stats('wl-1')).rejects.toMatchObject({ code: 'task_not_running' });

    const started = await vm.restart('wl-1', 2);
    expect(started).toMatchObject({ state: 'running', pid: 4001, generation: 2 });
    const stubborn = host.processes[1] as FakeQemu;
    stubborn.exitOnPowerdown = false;
    await vm.stop('wl-1', 0.05);
    expect(stubborn.commands).toEqual(expect.arrayContaining(['system_powerdown', 'quit']));
    expect(stubborn.alive).toBe(false);
  });

  it('a new instance recovers a running VM without starting QEMU again, and reports a dead one as exited', async () => {
    const first = driver();
    await first.start(spec());
    await first.start({ ...spec(), workloadId: 'wl-2' });
    await first.release();
    host.processes[1]?.exit(137);

    const second = driver();
    const recovered = await second.recover('node-1');
    expect(recovered).toEqual([
      expect.objectContaining({ handleId: 'wl-1', state: 'running', pid: 4000 }),
      expect.objectContaining({ handleId: 'wl-2', state: 'exited', pid: null }),
    ]);
    expect(host.processes).toHaveLength(2);
    await expect(second.recover('other-node')).resolves.toEqual([]);
    await second.pause('wl-1');
    expect(host.processes[0]?.status).toBe('paused');
  });

  it('destroy kills QEMU and removes the overlay directory and the cgroups', async () => {
    const vm = driver();
    await vm.start(spec());
    await vm.destroy('wl-1');
    expect(host.processes[0]?.alive).toBe(false);
    expect(cgroups.groups.size).toBe(0);
    expect(await readdir(path.join(root, 'state', 'vms'))).toEqual([]);
    await expect(vm.inspect('wl-1')).resolves.toBeNull();
    await vm.destroy('wl-1');
  });

  it('refuses unknown templates and specs without VM fields', async () => {
    const vm = driver();
    await expect(vm.start({ ...spec(), vm: { vcpus: 1, diskGiB: 1, template: 'missing' } })).rejects.toMatchObject({ code: 'image_not_found' });
    const { vm: _omitted, ...container } = spec();
    await expect(vm.start(container)).rejects.toMatchObject({ code: 'invalid_spec' });
    expect(host.processes).toHaveLength(0);
  });

  it('an incoming migration target starts with -incoming and reads as created', async () => {
    const vm = driver();
    const status = await vm.prepareIncoming(spec(), { host: '127.0.0.1', port: 4444 });
    expect(status.state).toBe('created');
    expect(host.processes[0]?.args.slice(-2)).toEqual(['-incoming', 'tcp:127.0.0.1:4444']);
    await expect(vm.prepareIncoming(spec(), { host: '127.0.0.1', port: 4444 })).rejects.toMatchObject({ code: 'invalid_state' });
  });

  it('live migration starts at a low downtime limit and raises it while the migration has not converged', async () => {
    const vm = driver({ initialDowntimeMs: 30, maxDowntimeMs: 100, stepEveryMs: 150 });
    await vm.start(spec());
    const source = host.processes[0] as FakeQemu;
    source.migrationPolls = 8;
    const result = await vm.migrate('wl-1', { host: '127.0.0.1', port: 4444 });
    expect(result).toMatchObject({ status: 'completed', downtimeMs: 5, totalTimeMs: 700 });
    // The limit is in place before `migrate`, and raised (capped) only while it runs.
    expect(source.commands.indexOf('migrate-set-parameters')).toBeLessThan(source.commands.indexOf('migrate'));
    const limits = source.parameters.map((parameters) => parameters['downtime-limit']);
    expect(limits[0]).toBe(30);
    expect(limits).toEqual(expect.arrayContaining([60, 100]));
    expect(limits.slice(1).every((limit, i) => (limit as number) > (limits[i] as number))).toBe(true);
    expect(source.alive).toBe(false);
  });

  it('an idle guest that converges at once keeps the initial limit', async () => {
    const vm = driver();
    await vm.start(spec());
    const source = host.processes[0] as FakeQemu;
    await expect(vm.migrate('wl-1', { host: '127.0.0.1', port: 4444 })).resolves.toMatchObject({ status: 'completed' });
    expect(source.parameters).toEqual([{ 'downtime-limit': 30 }]);
  });
});
