import type { TaskSpec } from '../driver';
import {
  buildQemuArgs,
  DEFAULT_MIGRATION_TUNING,
  downtimeLimitAt,
  migrationStepMs,
  QEMU_MEMORY_OVERHEAD_MIB,
  QEMU_SANDBOX,
  qemuLaunchCommand,
  taskStateFromRunState,
  validateVmSpec,
  vmCgroupLimits,
} from './vm-launch';

const MiB = 1024 * 1024;

function spec(overrides: Partial<TaskSpec> = {}, vm: Partial<NonNullable<TaskSpec['vm']>> = {}): TaskSpec {
  return {
    workloadId: 'w1',
    tenantId: 't1',
    nodeId: 'n1',
    generation: 1,
    image: 'tiny',
    resources: { cpuMillis: 2000, memoryMiB: 256, pids: 100 },
    vm: { vcpus: 2, diskGiB: 4, template: 'tiny', ...vm },
    ...overrides,
  };
}

const template = { name: 'tiny', kernelPath: '/t/vmlinuz', initrdPath: '/t/initrd.gz', diskPath: '/t/disk.qcow2', cmdline: 'console=ttyS0 quiet' };
const paths = { overlay: '/s/disk.qcow2', consoleLog: '/s/console.log', qmpSocket: '/q/a.qmp', pidFile: '/s/qemu.pid' };

describe('vmCgroupLimits', () => {
  it('gives vCPUs × period of CPU, guest RAM plus QEMU overhead, and pids for QEMU threads', () => {
    expect(vmCgroupLimits(spec())).toEqual({
      cpuPeriodUs: 100_000,
      cpuQuotaUs: 200_000,
      memoryBytes: (256 + QEMU_MEMORY_OVERHEAD_MIB) * MiB,
      pidsMax: 66,
    });
  });

  it('caps the quota with cpuMillis when that is below the vCPU count', () => {
    expect(vmCgroupLimits(spec({ resources: { cpuMillis: 500, memoryMiB: 128, pids: 10 } }, { vcpus: 1 })).cpuQuotaUs).toBe(50_000);
    expect(vmCgroupLimits(spec({ resources: { cpuMillis: 8000, memoryMiB: 128, pids: 10 } }, { vcpus: 1 })).cpuQuotaUs).toBe(100_000);
  });
});

describe('validateVmSpec', () => {
  it('rejects a spec without vm fields or with bad ones, listing every problem', () => {
    const { vm: _vm, ...noVm } = spec();
    expect(() => validateVmSpec(noVm)).toThrow(expect.objectContaining({ code: 'invalid_spec' }));
    expect(() => validateVmSpec(spec({}, { vcpus: 0, template: '../etc', kernelArgs: ['a b'] }))).toThrow(
      /vcpus.*template.*kernel argument/,
    );
  });
});

describe('buildQemuArgs', () => {
  it('boots the template kernel on the overlay with console, QMP and pid file, under TCG', () => {
    const args = buildQemuArgs({ spec: spec({}, { kernelArgs: ['gureum.burn=1'] }), template, paths, accelerator: 'tcg' });
    const after = (flag: string) => args[args.indexOf(flag) + 1];
    expect(after('-accel')).toBe('tcg,tb-size=64');
    expect(after('-m')).toBe('256');
    expect(after('-smp')).toBe('2');
    expect(after('-kernel')).toBe('/t/vmlinuz');
    expect(after('-append')).toBe('console=ttyS0 quiet gureum.burn=1');
    expect(after('-drive')).toBe('file=/s/disk.qcow2,if=virtio,format=qcow2,id=disk0');
    expect(after('-qmp')).toBe('unix:/q/a.qmp,server=on,wait=off');
    expect(after('-pidfile')).toBe('/s/qemu.pid');
    expect(args).not.toContain('-incoming');
  });

  it('differs for a migration destination only by -incoming, and uses -cpu host under KVM', () => {
    const source = buildQemuArgs({ spec: spec(), template, paths, accelerator: 'kvm' });
    const destination = buildQemuArgs({ spec: spec(), template, paths, accelerator: 'kvm', incoming: { host: '127.0.0.1', port: 4444 } });
    expect(destination).toEqual([...source, '-incoming', 'tcp:127.0.0.1:4444']);
    expect(source.join(' ')).toContain('-accel kvm -cpu host');
  });

  it('turns on the seccomp sandbox with every deny option, on source and destination alike', () => {
    expect(QEMU_SANDBOX).toBe('on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny');
    for (const args of [
      buildQemuArgs({ spec: spec(), template, paths, accelerator: 'tcg' }),
      buildQemuArgs({ spec: spec(), template, paths, accelerator: 'tcg', incoming: { host: '127.0.0.1', port: 4444 } }),
    ]) {
      expect(args[args.indexOf('-sandbox') + 1]).toBe(QEMU_SANDBOX);
      // -runas would call setuid after the filter is in place (SIGSYS): privileges drop before exec instead.
      expect(args).not.toContain('-runas');
    }
  });
});

describe('qemuLaunchCommand', () => {
  it('waits for its cgroups, sets a private umask and drops to the QEMU user with no groups, capabilities or new privileges', () => {
    const { file, argv } = qemuLaunchCommand('qemu-system-x86_64', ['-m', '128'], { user: 'gureum-qemu', uid: 999, gid: 995 });
    expect(file).toBe('/bin/sh');
    expect(argv[1]).toBe('read -r _; umask 077; exec "$@" </dev/null');
    expect(argv.slice(3)).toEqual([
      'setpriv', '--reuid=999', '--regid=995', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs',
      'qemu-system-x86_64', '-m', '128',
    ]);
  });

  it('execs QEMU directly (same umask) when there is no QEMU user', () => {
    expect(qemuLaunchCommand('qemu-system-x86_64', ['-m', '128'], null).argv.slice(3)).toEqual(['qemu-system-x86_64', '-m', '128']);
  });
});

describe('taskStateFromRunState', () => {
  it('maps QEMU run states onto task states', () => {
    expect(taskStateFromRunState('running')).toBe('running');
    expect(taskStateFromRunState('paused')).toBe('paused');
    expect(taskStateFromRunState('postmigrate')).toBe('paused');
    expect(taskStateFromRunState('inmigrate')).toBe('created');
  });
});

describe('live migration convergence', () => {
  it('starts at the initial downtime limit and doubles it every step up to the ceiling', () => {
    const tuning = { initialDowntimeMs: 30, maxDowntimeMs: 300 };
    expect([0, 1_999, 2_000, 4_000, 6_000, 8_000, 60_000, 1e12].map((elapsed) => downtimeLimitAt(elapsed, 2_000, tuning))).toEqual([
      30, 30, 60, 120, 240, 300, 300, 300,
    ]);
  });

  it('waits two RAM passes at the bandwidth cap (at least 2 s) at one limit, unless told otherwise', () => {
    expect(migrationStepMs(128, DEFAULT_MIGRATION_TUNING)).toBe(2_000);
    expect(migrationStepMs(4096, DEFAULT_MIGRATION_TUNING)).toBe(64_000);
    expect(migrationStepMs(4096, { ...DEFAULT_MIGRATION_TUNING, maxBandwidthBytesPerSec: 1024 * MiB })).toBe(8_000);
    expect(migrationStepMs(4096, { ...DEFAULT_MIGRATION_TUNING, stepEveryMs: 500 })).toBe(500);
  });
});
