import type { CgroupLimits } from '@gureum/cgroups';

import { DriverError, type TaskSpec, type VmTaskSpec } from '../driver';

export type Accelerator = 'kvm' | 'tcg';
export type AcceleratorSetting = Accelerator | 'auto';

const MiB = 1024 * 1024;
export const CPU_PERIOD_US = 100_000;

/**
 * What QEMU itself needs on top of the guest's RAM, charged to the VM's memory cgroup.
 * Measured here (QEMU 7.2, TCG with a 64 MiB translation cache, 128 MiB guest with all of its
 * RAM touched via -mem-prealloc, 1 and 2 vCPUs): anonymous memory (memory.stat total_rss)
 * 210–213 MiB after boot, i.e. 82–85 MiB of QEMU overhead; savevm/loadvm adds ~89 MiB of
 * page cache (reclaimable, but charged to the group). TOOLCHAIN.md saw ~90 MiB. 160 MiB
 * covers the overhead with room for that page cache so the kernel reclaims before it OOMs.
 */
export const QEMU_MEMORY_OVERHEAD_MIB = 160;
/** TCG's translated-code cache; QEMU's default (1 GiB) would make the overhead unbounded. */
export const TCG_TB_SIZE_MIB = 64;
/** QEMU's own threads (main loop, one per vCPU, I/O workers, migration); guests' processes are not host pids. */
export const QEMU_BASE_PIDS = 64;

/**
 * How a live migration converges. QEMU stops the guest for the final copy as soon as what is
 * left (dirty RAM and disk blocks) could be sent within `downtime-limit` at the bandwidth it
 * measured; its default limit is 300 ms, so at its default 128 MiB/s cap it stops with up to
 * ~40 MB still to send, and the downtime is wherever in 0–300 ms that leftover and the host's
 * CPU put it (measured here: 13–250 ms for the same idle guest, raw or through the driver).
 * Starting with a low limit makes QEMU keep iterating until the leftover is small; a guest that
 * dirties memory faster than that converges gets the limit doubled every `stepEveryMs`, up to
 * `maxDowntimeMs`, so a busy guest still completes (OpenStack Nova's stepped downtime, in short).
 */
export interface MigrationTuning {
  /** QEMU `downtime-limit` (ms) when the migration starts. */
  initialDowntimeMs: number;
  /** The limit is never raised beyond this (ms); QEMU's own default is 300. */
  maxDowntimeMs: number;
  /** Time at one limit before it is doubled (ms); default: two RAM passes at QEMU's bandwidth cap, at least 2 s. */
  stepEveryMs?: number;
  /** QEMU `max-bandwidth` (bytes/s); unset keeps QEMU's default (128 MiB/s). */
  maxBandwidthBytesPerSec?: number;
}

export const DEFAULT_MIGRATION_TUNING: MigrationTuning = { initialDowntimeMs: 30, maxDowntimeMs: 300 };
/** QEMU 7.2's default `max-bandwidth` (MAX_THROTTLE). */
export const QEMU_DEFAULT_MAX_BANDWIDTH = 128 * MiB;

/** How long the migration waits at one downtime limit before raising it, for a guest of `memoryMiB`. */
export function migrationStepMs(memoryMiB: number, tuning: MigrationTuning): number {
  if (tuning.stepEveryMs !== undefined) return tuning.stepEveryMs;
  const bandwidth = tuning.maxBandwidthBytesPerSec ?? QEMU_DEFAULT_MAX_BANDWIDTH;
  return Math.max(2_000, Math.ceil(((2 * memoryMiB * MiB) / bandwidth) * 1000));
}

/** The downtime limit `elapsedMs` into a migration: the initial one, doubled every step, capped. */
export function downtimeLimitAt(elapsedMs: number, stepMs: number, tuning: MigrationTuning): number {
  const steps = Math.max(0, Math.floor(elapsedMs / stepMs));
  // 2^steps overflows nothing that matters: the cap is reached within a few steps.
  return Math.min(tuning.maxDowntimeMs, tuning.initialDowntimeMs * 2 ** Math.min(steps, 30));
}

export interface VmTemplate {
  name: string;
  kernelPath: string;
  initrdPath: string;
  diskPath: string;
  cmdline: string;
}

export interface VmPaths {
  overlay: string;
  consoleLog: string;
  qmpSocket: string;
  pidFile: string;
}

/** Checks the VM-specific parts of a spec the generic contract cannot. */
export function validateVmSpec(spec: TaskSpec): VmTaskSpec {
  const vm = spec.vm;
  const problems: string[] = [];
  if (!vm) throw new DriverError('invalid_spec', 'the vm driver needs spec.vm (vcpus, diskGiB, template)');
  if (!Number.isInteger(vm.vcpus) || vm.vcpus < 1 || vm.vcpus > 64) problems.push('vm.vcpus must be an integer in 1..64');
  if (!Number.isInteger(vm.diskGiB) || vm.diskGiB < 1 || vm.diskGiB > 4096) problems.push('vm.diskGiB must be an integer in 1..4096');
  // A template reference; what it may look like beyond this is the TemplateSource's business.
  if (!/^[a-z0-9][a-z0-9._:/@+-]{0,254}$/.test(vm.template) || vm.template.includes('..')) problems.push('vm.template must be a template reference');
  if (!Number.isInteger(spec.resources.memoryMiB) || spec.resources.memoryMiB < 32) problems.push('resources.memoryMiB must be an integer >= 32');
  if (!Number.isInteger(spec.resources.cpuMillis) || spec.resources.cpuMillis < 10) problems.push('resources.cpuMillis must be an integer >= 10');
  for (const arg of vm.kernelArgs ?? []) {
    if (!/^[A-Za-z0-9_.=:,/-]{1,128}$/.test(arg)) problems.push(`kernel argument ${JSON.stringify(arg).slice(0, 40)} has characters outside [A-Za-z0-9_.=:,/-]`);
  }
  if (problems.length > 0) throw new DriverError('invalid_spec', problems.join('; '));
  return vm;
}

/**
 * CPU quota = vCPUs × period, capped by `cpuMillis` when that is smaller (a VM may be sold a
 * fraction of its vCPUs); memory = guest RAM + QEMU's overhead; pids for QEMU's threads.
 */
export function vmCgroupLimits(spec: TaskSpec, overheadMiB = QEMU_MEMORY_OVERHEAD_MIB): Required<Pick<CgroupLimits, 'cpuQuotaUs' | 'cpuPeriodUs' | 'memoryBytes' | 'pidsMax'>> {
  const vm = validateVmSpec(spec);
  const cpuMillis = Math.min(vm.vcpus * 1000, spec.resources.cpuMillis);
  return {
    cpuPeriodUs: CPU_PERIOD_US,
    cpuQuotaUs: Math.round((cpuMillis * CPU_PERIOD_US) / 1000),
    memoryBytes: (spec.resources.memoryMiB + overheadMiB) * MiB,
    pidsMax: QEMU_BASE_PIDS + vm.vcpus,
  };
}

/**
 * QEMU's own threads (main loop, I/O workers, migration) get this much CPU on top of the
 * vCPUs' quota. The vCPU threads sit in a child cpu group with the VM's quota (libvirt's
 * vcpu/emulator layout), so the guest never runs beyond its vCPUs, while QEMU's emulation work
 * is not taken out of them: with one quota on the whole QEMU, a 1-vCPU TCG guest was throttled
 * whenever the main loop ran in the same period as the busy vCPU, and booted 5–15 % slower.
 */
export const EMULATOR_CPU_QUOTA_US = 50_000;
/** The child cpu group (below the VM's) that holds the vCPU threads. */
export const VCPU_CGROUP = 'vcpus';

/** vCPU threads: the VM's quota; the whole QEMU: that plus the emulator's allowance. */
export function vmCpuSplit(spec: TaskSpec): { periodUs: number; childQuotaUs: number; groupQuotaUs: number } {
  const limits = vmCgroupLimits(spec);
  return { periodUs: limits.cpuPeriodUs, childQuotaUs: limits.cpuQuotaUs, groupQuotaUs: limits.cpuQuotaUs + EMULATOR_CPU_QUOTA_US };
}

/**
 * QEMU's seccomp filter (`-sandbox`): no obsolete system calls, no set*uid/gid, no
 * fork/exec, no scheduler or priority changes. `/proc/<pid>/status` of the QEMU shows
 * `Seccomp: 2`. Compatible with TCG, KVM, QMP, savevm/loadvm and live migration (measured).
 */
export const QEMU_SANDBOX = 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny';

/** The unprivileged account QEMU runs as (see `qemuLaunchCommand`). */
export interface QemuRunAs {
  user: string;
  uid: number;
  gid: number;
}

/**
 * The wrapper that becomes QEMU (same pid): it waits on stdin until the caller has placed it in
 * its cgroups, then execs QEMU with a private umask (files QEMU creates are 0600) and, with
 * `runAs`, through `setpriv` as the unprivileged user: no supplementary groups, no
 * capabilities (also none inheritable or in the bounding set), no_new_privs. Why not QEMU's
 * own `-runas`: QEMU 7.2 installs the seccomp filter before `-runas` calls setgid/setuid, so
 * with `elevateprivileges=deny` it dies with SIGSYS (measured); dropping before exec, as
 * libvirt does, keeps both, and QEMU never runs a line as root.
 */
export function qemuLaunchCommand(qemuBinary: string, args: readonly string[], runAs: QemuRunAs | null): { file: string; argv: string[] } {
  const drop = runAs
    ? ['setpriv', `--reuid=${runAs.uid}`, `--regid=${runAs.gid}`, '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs']
    : [];
  return { file: '/bin/sh', argv: ['-c', 'read -r _; umask 077; exec "$@" </dev/null', 'gureum-qemu-wrapper', ...drop, qemuBinary, ...args] };
}

export interface QemuArgsInput {
  spec: TaskSpec;
  template: VmTemplate;
  paths: VmPaths;
  accelerator: Accelerator;
  /** Destination of a live migration: wait for the state on this address. */
  incoming?: { host: string; port: number };
  /** `-S`: do not start the guest (cold migration's source). */
  startPaused?: boolean;
}

/** The QEMU command line (without the binary). Source and destination of a migration differ only in `-incoming`. */
export function buildQemuArgs(input: QemuArgsInput): string[] {
  const { spec, template, paths, accelerator } = input;
  const vm = validateVmSpec(spec);
  const cmdline = [template.cmdline, ...(vm.kernelArgs ?? [])].filter(Boolean).join(' ');
  const args = [
    '-name', `gureum-${spec.workloadId}`,
    '-machine', 'pc',
    ...(accelerator === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', `tcg,tb-size=${TCG_TB_SIZE_MIB}`]),
    '-m', String(spec.resources.memoryMiB),
    '-smp', String(vm.vcpus),
    '-nodefaults', '-no-user-config', '-display', 'none',
    '-kernel', template.kernelPath,
    '-initrd', template.initrdPath,
    '-append', cmdline,
    '-drive', `file=${paths.overlay},if=virtio,format=qcow2,id=disk0`,
    '-chardev', `file,id=console0,path=${paths.consoleLog},append=on`,
    '-serial', 'chardev:console0',
    '-qmp', `unix:${paths.qmpSocket},server=on,wait=off`,
    '-pidfile', paths.pidFile,
    '-sandbox', QEMU_SANDBOX,
  ];
  if (input.incoming) args.push('-incoming', `tcp:${input.incoming.host}:${input.incoming.port}`);
  // Cold migration's source: QEMU up on the stopped VM's disk, guest not started, only to send the disk.
  if (input.startPaused) args.push('-S');
  return args;
}

/** QMP `query-status` run states, mapped onto the driver contract's task states. */
export function taskStateFromRunState(status: string): 'created' | 'running' | 'paused' {
  switch (status) {
    case 'running':
      return 'running';
    case 'inmigrate':
    case 'prelaunch':
      return 'created';
    default:
      // paused, postmigrate, save-vm, restore-vm, suspended, shutdown, guest-panicked, ...
      return 'paused';
  }
}
