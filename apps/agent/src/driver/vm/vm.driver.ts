import { createHash } from 'node:crypto';
import { access, chmod, chown, mkdir, open, readdir, readFile, rm, writeFile, rename, constants as fsConstants } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { supportsCpuThreadSplit, type CgroupManager } from '@gureum/cgroups';

import {
  DriverError,
  type DriverFingerprint,
  type MigratableDriver,
  type MigrationResult,
  type MigrationTarget,
  type PausableDriver,
  type SnapshotDriver,
  type SnapshotInfo,
  type TaskResources,
  type TaskSpec,
  type TaskStats,
  type TaskStatus,
  type WorkloadDriver,
} from '../driver';
import type { QmpClient, QmpConnect } from './qmp-client';
import type { QemuHost } from './qemu-host';
import { LocalDirTemplateSource, type TemplatePullAuth, type TemplateSource } from './template-source';
import {
  buildQemuArgs,
  DEFAULT_MIGRATION_TUNING,
  downtimeLimitAt,
  migrationStepMs,
  QEMU_SANDBOX,
  taskStateFromRunState,
  validateVmSpec,
  VCPU_CGROUP,
  vmCgroupLimits,
  vmCpuSplit,
  type Accelerator,
  type AcceleratorSetting,
  type MigrationTuning,
  type QemuRunAs,
  type VmPaths,
  type VmTemplate,
} from './vm-launch';

export const GUEST_READY_MARKER = 'GUREUM-GUEST-READY';

function qemuUserDetail(runAs: QemuRunAs | null): string {
  return runAs ? `qemu as ${runAs.user} (uid ${runAs.uid}), seccomp sandbox` : `qemu as uid ${process.getuid?.() ?? '?'} (no unprivileged QEMU user), seccomp sandbox`;
}

export interface VmDriverOptions {
  /** This agent's state dir; VMs live under `<stateDir>/vms/<handle>/`. */
  stateDir: string;
  /** Templates cached on this host: `<templateRoot>/<name>/template.json` (used when `templates` is not given). */
  templateRoot: string;
  /** Where template references are resolved; default a LocalDirTemplateSource on `templateRoot`. */
  templates?: TemplateSource;
  cgroups: CgroupManager;
  host: QemuHost;
  connectQmp: QmpConnect;
  accelerator: AcceleratorSetting;
  /** Where QMP sockets go (unix socket paths are limited to 107 bytes); default `<tmpdir>/gureum-vm`. */
  socketDir?: string;
  /** Template booted by the `auto` accelerator probe; default the first template found. */
  probeTemplate?: string;
  /** How long the `auto` probe waits for the guest's marker under KVM. */
  probeTimeoutMs?: number;
  capacity?: Partial<TaskResources>;
  /** How live migrations converge (downtime limit and its steps); default DEFAULT_MIGRATION_TUNING. */
  migration?: MigrationTuning;
}

interface VmRecord {
  handleId: string;
  workloadId: string;
  tenantId: string;
  nodeId: string;
  generation: number;
  spec: TaskSpec;
  accelerator: Accelerator;
  cgroup: string;
  pid: number | null;
  startedAt: string | null;
  finishedAt: string | null;
  exitCode: number | null;
}

interface LiveVm {
  pid: number;
  qmp: QmpClient;
  /** Resolves once the QEMU process is gone (or this driver let go of it). */
  exited: Promise<void>;
  released: boolean;
}

const SNAPSHOT_NAME = /^[A-Za-z0-9._-]{1,64}$/;
const HANDLE = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const QMP_CONNECT_TIMEOUT_MS = 20_000;
const MIGRATION_POLL_MS = 100;

/**
 * Runs VMs as QEMU processes controlled over QMP, each in cgroups of its own and on a qcow2
 * overlay of a host-cached template. The QEMU processes do not belong to the agent: they keep
 * running when it exits, and a new driver instance reconnects to them from the records and
 * QMP sockets it left under its state dir.
 */
export class VmDriver implements WorkloadDriver, PausableDriver, SnapshotDriver, MigratableDriver {
  readonly name = 'vm' as const;
  private readonly live = new Map<string, LiveVm>();
  private readonly queues = new Map<string, Promise<unknown>>();
  private accelerator: Promise<Accelerator> | undefined;
  private readonly socketDir: string;
  private readonly instanceTag: string;
  private readonly templates: TemplateSource;

  constructor(private readonly options: VmDriverOptions) {
    this.templates = options.templates ?? new LocalDirTemplateSource(options.templateRoot);
    this.socketDir = options.socketDir ?? path.join(os.tmpdir(), 'gureum-vm');
    // Two agents on one host (a migration's two ends) must not share cgroups or sockets.
    this.instanceTag = createHash('sha256').update(path.resolve(options.stateDir)).digest('hex').slice(0, 8);
  }

  async fingerprint(): Promise<DriverFingerprint> {
    const overrides = this.options.capacity ?? {};
    try {
      const version = await this.options.host.version();
      const templates = await this.listTemplates();
      const accelerator = await this.resolveAccelerator();
      return {
        driver: 'vm',
        healthy: true,
        detail: `${version}, accelerator ${accelerator}, cgroup v${this.options.cgroups.version}, ${qemuUserDetail(this.options.host.runAs ?? null)}`,
        capacity: {
          cpuMillis: overrides.cpuMillis ?? os.cpus().length * 1000,
          memoryMiB: overrides.memoryMiB ?? Math.floor(os.totalmem() / (1024 * 1024)),
          pids: overrides.pids ?? 32_768,
        },
        images: templates,
      };
    } catch (error) {
      return {
        driver: 'vm',
        healthy: false,
        detail: `qemu unavailable: ${error instanceof Error ? error.message : String(error)}`,
        capacity: { cpuMillis: 0, memoryMiB: 0, pids: 0 },
        images: [],
      };
    }
  }

  /** The accelerator in use: `auto` boots a probe guest under KVM once and falls back to TCG. */
  resolveAccelerator(): Promise<Accelerator> {
    this.accelerator ??= this.options.accelerator === 'auto' ? this.probeKvm() : Promise.resolve(this.options.accelerator);
    return this.accelerator;
  }

  start(spec: TaskSpec): Promise<TaskStatus> {
    const handleId = this.handleFor(spec.workloadId);
    return this.serialize(handleId, async () => {
      validateVmSpec(spec);
      const record = await this.readRecord(handleId);
      if (record) {
        if (spec.generation < record.generation) {
          throw new DriverError('stale_generation', `VM ${handleId} already runs generation ${record.generation}`);
        }
        if (spec.generation === record.generation || this.live.has(handleId)) {
          if (spec.generation !== record.generation) await this.writeRecord({ ...record, generation: spec.generation });
          return this.requireStatus(handleId);
        }
        // A newer generation of a stopped VM boots again from the new spec on the same disk.
        await this.launch({ ...record, spec, generation: spec.generation });
        return this.requireStatus(handleId);
      }
      await this.launch(this.newRecord(handleId, spec));
      return this.requireStatus(handleId);
    });
  }

  restart(handleId: string, generation: number): Promise<TaskStatus> {
    return this.serialize(handleId, async () => {
      const record = await this.requireRecord(handleId);
      if (generation < record.generation) throw new DriverError('stale_generation', `VM ${handleId} already runs generation ${record.generation}`);
      if (generation === record.generation && record.startedAt !== null) return this.requireStatus(handleId);
      if (this.live.has(handleId)) {
        await this.writeRecord({ ...record, generation });
        return this.requireStatus(handleId);
      }
      await this.launch({ ...record, generation });
      return this.requireStatus(handleId);
    });
  }

  async recover(nodeId: string): Promise<TaskStatus[]> {
    const statuses: TaskStatus[] = [];
    for (const handleId of await this.listHandles()) {
      const record = await this.readRecord(handleId);
      if (!record || record.nodeId !== nodeId) continue;
      await this.serialize(handleId, () => this.adopt(record));
      const status = await this.status(handleId);
      if (status) statuses.push(status);
    }
    return statuses;
  }

  async wait(handleId: string): Promise<TaskStatus> {
    const live = this.live.get(handleId);
    if (live) await live.exited;
    const status = await this.status(handleId);
    if (!status) throw new DriverError('task_not_found', `no VM ${handleId}`);
    return status;
  }

  /** Presses the ACPI power button, then quits QEMU, then kills it. */
  stop(handleId: string, timeoutSeconds: number): Promise<void> {
    return this.serialize(handleId, async () => {
      const live = this.live.get(handleId);
      if (!live) return;
      await live.qmp.execute('system_powerdown').catch(() => undefined);
      if (await settlesWithin(live.exited, timeoutSeconds * 1000)) return;
      await this.powerOff(handleId, live);
    });
  }

  /** Pulls the plug: no guest shutdown. */
  forceOff(handleId: string): Promise<void> {
    return this.serialize(handleId, async () => {
      const live = this.live.get(handleId);
      if (live) await this.powerOff(handleId, live);
    });
  }

  async reboot(handleId: string): Promise<void> {
    await this.requireLive(handleId).qmp.execute('system_reset');
  }

  destroy(handleId: string): Promise<void> {
    return this.serialize(handleId, async () => {
      const live = this.live.get(handleId);
      if (live) await this.powerOff(handleId, live);
      const record = await this.readRecord(handleId);
      // The kernel lets go of an exited process's cgroup membership a moment after its exit.
      if (record) {
        await retry(() => this.options.cgroups.destroy(`${record.cgroup}/${VCPU_CGROUP}`), 5_000);
        await retry(() => this.options.cgroups.destroy(record.cgroup), 5_000);
      }
      await rm(this.paths(handleId).qmpSocket, { force: true });
      await rm(this.vmDir(handleId), { recursive: true, force: true });
    });
  }

  async inspect(handleId: string): Promise<TaskStatus | null> {
    if (!HANDLE.test(handleId)) return null;
    return this.status(handleId);
  }

  async stats(handleId: string): Promise<TaskStats> {
    const record = await this.requireRecord(handleId);
    if (!this.live.has(handleId)) throw new DriverError('task_not_running', `VM ${handleId} is not running`);
    const snapshot = await this.options.cgroups.read(record.cgroup);
    return {
      cpuUsageNs: snapshot.cpu.usageNs,
      memoryBytes: snapshot.memory.usageBytes,
      memoryPeakBytes: snapshot.memory.peakBytes,
      pids: snapshot.pids.current,
      limits: {
        // The VM's CPU limit is its vCPUs' quota (the group's own includes QEMU's emulator allowance).
        cpuQuotaUs: supportsCpuThreadSplit(this.options.cgroups) ? vmCgroupLimits(record.spec).cpuQuotaUs : snapshot.cpu.quotaUs,
        cpuPeriodUs: snapshot.cpu.periodUs,
        memoryBytes: snapshot.memory.limitBytes,
        pidsMax: snapshot.pids.max,
      },
    };
  }

  /** Where the guest's serial console is captured. */
  consoleLogPath(handleId: string): string {
    return this.paths(handleId).consoleLog;
  }

  cgroupName(handleId: string): string {
    return `gvm-${this.instanceTag}-${handleId}`;
  }

  async pause(handleId: string): Promise<void> {
    const live = this.requireLive(handleId);
    const state = await this.runState(live);
    if (state !== 'running') throw new DriverError('invalid_state', `VM ${handleId} is ${state}, not running`);
    await live.qmp.execute('stop');
  }

  async resume(handleId: string): Promise<void> {
    const live = this.requireLive(handleId);
    const state = await this.runState(live);
    if (state !== 'paused') throw new DriverError('invalid_state', `VM ${handleId} is ${state}, not paused`);
    await live.qmp.execute('cont');
  }

  snapshot(handleId: string, name: string, options: { withMemory: boolean }): Promise<SnapshotInfo> {
    return this.serialize(handleId, async () => {
      assertSnapshotName(name);
      const live = this.requireLive(handleId);
      if ((await this.listSnapshots(handleId)).some((snapshot) => snapshot.name === name)) {
        throw new DriverError('invalid_spec', `VM ${handleId} already has a snapshot named ${name}`);
      }
      if (options.withMemory) await this.hmp(live, `savevm ${name}`);
      else await live.qmp.execute('blockdev-snapshot-internal-sync', { device: 'disk0', name });
      const created = (await this.listSnapshots(handleId)).find((snapshot) => snapshot.name === name);
      if (!created) throw new DriverError('driver_failure', `snapshot ${name} of VM ${handleId} was not recorded`);
      return created;
    });
  }

  /**
   * A memory snapshot is loaded into the running VM; a disk-only one can only be applied to
   * a VM that is not running (its guest would not expect its disk to change underneath).
   */
  restore(handleId: string, name: string): Promise<void> {
    return this.serialize(handleId, async () => {
      assertSnapshotName(name);
      const snapshot = (await this.listSnapshots(handleId)).find((candidate) => candidate.name === name);
      if (!snapshot) throw new DriverError('snapshot_not_found', `VM ${handleId} has no snapshot ${name}`);
      const live = this.live.get(handleId);
      if (snapshot.withMemory) {
        if (!live) throw new DriverError('invalid_state', `VM ${handleId} must be running to load memory snapshot ${name}`);
        await this.hmp(live, `loadvm ${name}`);
        return;
      }
      if (live) throw new DriverError('invalid_state', `stop VM ${handleId} before restoring disk snapshot ${name}`);
      await this.options.host.qemuImg(['snapshot', '-a', name, this.paths(handleId).overlay]);
    });
  }

  async listSnapshots(handleId: string): Promise<SnapshotInfo[]> {
    await this.requireRecord(handleId);
    const live = this.live.get(handleId);
    let raw: unknown[];
    if (live) {
      const devices = await live.qmp.execute<Array<{ device: string; inserted?: { image?: { snapshots?: unknown[] } } }>>('query-block');
      raw = devices.find((device) => device.device === 'disk0')?.inserted?.image?.snapshots ?? [];
    } else {
      const info = JSON.parse(await this.options.host.qemuImg(['info', '-U', '--output=json', this.paths(handleId).overlay])) as { snapshots?: unknown[] };
      raw = info.snapshots ?? [];
    }
    return raw.map((entry) => {
      const snapshot = entry as { name: string; 'vm-state-size': number; 'date-sec': number };
      return {
        name: snapshot.name,
        withMemory: snapshot['vm-state-size'] > 0,
        vmStateBytes: snapshot['vm-state-size'],
        createdAt: new Date(snapshot['date-sec'] * 1000).toISOString(),
      };
    });
  }

  deleteSnapshot(handleId: string, name: string): Promise<void> {
    return this.serialize(handleId, async () => {
      assertSnapshotName(name);
      if (!(await this.listSnapshots(handleId)).some((snapshot) => snapshot.name === name)) {
        throw new DriverError('snapshot_not_found', `VM ${handleId} has no snapshot ${name}`);
      }
      const live = this.live.get(handleId);
      if (live) await this.hmp(live, `delvm ${name}`);
      else await this.options.host.qemuImg(['snapshot', '-d', name, this.paths(handleId).overlay]);
    });
  }

  /**
   * Writes the disk of snapshot `name` to `outPath` as a standalone qcow2 (the backing chain
   * flattened in) and returns it with the VM's template (kernel, initrd, cmdline): what a
   * new template made from this snapshot consists of. Safe while QEMU runs the VM: an
   * internal snapshot's clusters never change once it is taken, `qemu-img` reads them with
   * force-share (`-U`, QEMU keeps its write lock), and this VM's other snapshot operations
   * (which rewrite the snapshot table) wait in its queue until the copy is done.
   */
  exportSnapshot(handleId: string, name: string, outPath: string, templatePullAuth?: TemplatePullAuth): Promise<{ template: VmTemplate; diskPath: string }> {
    return this.serialize(handleId, async () => {
      assertSnapshotName(name);
      const record = await this.requireRecord(handleId);
      if (!(await this.listSnapshots(handleId)).some((snapshot) => snapshot.name === name)) {
        throw new DriverError('snapshot_not_found', `VM ${handleId} has no snapshot ${name}`);
      }
      // A fresh token from the scheduler: the assignment's may have expired since the VM started.
      const template = await this.resolveTemplate(validateVmSpec(record.spec).template, templatePullAuth ?? record.spec.pullAuth);
      await rm(outPath, { force: true });
      await this.options.host.qemuImg(['convert', '-U', '-O', 'qcow2', '-l', `snapshot.name=${name}`, this.paths(handleId).overlay, outPath]);
      await chmod(outPath, 0o600);
      return { template, diskPath: outPath };
    });
  }

  /** Starts QEMU with the spec's arguments plus `-incoming`, on an empty overlay of the same template. */
  prepareIncoming(spec: TaskSpec, target: MigrationTarget): Promise<TaskStatus> {
    const handleId = this.handleFor(spec.workloadId);
    return this.serialize(handleId, async () => {
      validateVmSpec(spec);
      if (await this.readRecord(handleId)) throw new DriverError('invalid_state', `VM ${handleId} already exists on this node`);
      await this.launch(this.newRecord(handleId, spec), target);
      return this.requireStatus(handleId);
    });
  }

  /**
   * Sends RAM, device state and the overlay's own blocks (`inc`: the template is on both
   * hosts) to the destination, polling until QEMU reports an end. On success the source QEMU
   * quits: the VM now belongs to the destination. On failure QEMU resumes the source.
   */
  migrate(handleId: string, target: MigrationTarget): Promise<MigrationResult> {
    return this.serialize(handleId, async () => {
      const live = this.requireLive(handleId);
      const record = await this.requireRecord(handleId);
      const wasRunning = (await this.runState(live)) === 'running';
      const result = await this.sendMigration(live, target, record.spec.resources.memoryMiB);
      if (result.status === 'completed') {
        await this.powerOff(handleId, live);
      } else if (wasRunning && (await this.runState(live)) !== 'running') {
        await live.qmp.execute('cont').catch(() => undefined);
      }
      return result;
    });
  }

  /**
   * Cold migration's source side: shuts the guest down (ACPI, then force after the timeout),
   * starts QEMU again on the same disk without starting the guest (`-S`), and sends that to
   * `target` with QEMU's block migration, so the disk travels the same way as in a live
   * migration. The destination then boots the guest from the moved disk (`bootIncoming`). On
   * failure the guest boots again here, so the VM ends up running where it was.
   */
  coldMigrate(handleId: string, target: MigrationTarget, stopTimeoutSeconds: number): Promise<MigrationResult> {
    return this.serialize(handleId, async () => {
      await this.requireRecord(handleId);
      const running = this.live.get(handleId);
      if (running) {
        await running.qmp.execute('system_powerdown').catch(() => undefined);
        if (!(await settlesWithin(running.exited, stopTimeoutSeconds * 1000))) await this.powerOff(handleId, running);
      }
      const record = await this.requireRecord(handleId);
      await this.launch(record, undefined, { startPaused: true });
      const live = this.requireLive(handleId);
      let result: MigrationResult;
      try {
        result = await this.sendMigration(live, target, record.spec.resources.memoryMiB);
      } catch (error) {
        result = { status: 'failed', totalTimeMs: null, downtimeMs: null, transferredBytes: null, error: errorText(error) };
      }
      if (result.status === 'completed') await this.powerOff(handleId, live);
      else await live.qmp.execute('cont').catch(() => undefined);
      return result;
    });
  }

  /** Cold migration's destination side, once the disk arrived: start the guest (it boots from the moved disk). */
  bootIncoming(handleId: string): Promise<void> {
    return this.serialize(handleId, async () => {
      const live = this.requireLive(handleId);
      const state = await this.runState(live);
      if (state === 'running') return;
      if (state === 'inmigrate') throw new DriverError('invalid_state', `VM ${handleId} is still receiving its migration`);
      await live.qmp.execute('cont');
    });
  }

  async migrationStatus(handleId: string): Promise<MigrationResult | null> {
    return this.queryMigration(this.requireLive(handleId));
  }

  // --- internals ---------------------------------------------------------------------------

  /**
   * Sends the VM (`migrate` with `blk`/`inc`: RAM, devices and the overlay's own blocks) and
   * polls until QEMU reports an end. The downtime limit starts low, so QEMU only stops the
   * guest once little is left to copy, and is raised step by step while the migration has not
   * converged (see MigrationTuning). QEMU refusing to start it is a `failed` result; a QMP
   * failure while it runs is thrown (QEMU may still be migrating).
   */
  private async sendMigration(live: LiveVm, target: MigrationTarget, memoryMiB: number): Promise<MigrationResult> {
    const tuning = this.options.migration ?? DEFAULT_MIGRATION_TUNING;
    const stepMs = migrationStepMs(memoryMiB, tuning);
    let limit = tuning.initialDowntimeMs;
    const started = Date.now();
    try {
      await live.qmp.execute('migrate-set-parameters', {
        'downtime-limit': limit,
        ...(tuning.maxBandwidthBytesPerSec !== undefined ? { 'max-bandwidth': tuning.maxBandwidthBytesPerSec } : {}),
      });
      await live.qmp.execute('migrate', { uri: `tcp:${target.host}:${target.port}`, blk: true, inc: true });
    } catch (error) {
      return { status: 'failed', totalTimeMs: null, downtimeMs: null, transferredBytes: null, error: errorText(error) };
    }
    for (;;) {
      await sleep(MIGRATION_POLL_MS);
      const result = await this.queryMigration(live);
      // queryMigration reports a running migration as `active` (outside MigrationResult's ends).
      if (['completed', 'failed', 'cancelled'].includes(result.status)) return result;
      const next = downtimeLimitAt(Date.now() - started, stepMs, tuning);
      if (next !== limit) {
        // Has not converged at this limit (the guest dirties memory faster than it is sent): allow
        // more. Best effort: a refused raise leaves the migration running at the lower limit.
        await live.qmp.execute('migrate-set-parameters', { 'downtime-limit': next }).catch(() => undefined);
        limit = next;
      }
    }
  }

  private async queryMigration(live: LiveVm): Promise<MigrationResult> {
    const info = await live.qmp.execute<{
      status?: string;
      'total-time'?: number;
      downtime?: number;
      ram?: { transferred?: number };
      'error-desc'?: string;
    }>('query-migrate');
    const status = info.status === 'completed' || info.status === 'failed' || info.status === 'cancelled' ? info.status : 'active';
    return {
      status: status as MigrationResult['status'],
      totalTimeMs: info['total-time'] ?? null,
      downtimeMs: info.downtime ?? null,
      transferredBytes: info.ram?.transferred ?? null,
      ...(info['error-desc'] ? { error: info['error-desc'] } : {}),
    };
  }

  private async launch(record: VmRecord, incoming?: MigrationTarget, flags: { startPaused?: boolean } = {}): Promise<void> {
    const template = await this.resolveTemplate(validateVmSpec(record.spec).template, record.spec.pullAuth);
    const paths = this.paths(record.handleId);
    await this.secureVmDirs(record.handleId);
    if (!(await exists(paths.overlay))) {
      await this.options.host.qemuImg([
        'create', '-q', '-f', 'qcow2', '-b', template.diskPath, '-F', 'qcow2', paths.overlay, `${validateVmSpec(record.spec).diskGiB}G`,
      ]);
    }
    await this.ownedByQemu(paths.overlay);
    const accelerator = await this.resolveAccelerator();
    await this.options.cgroups.create(record.cgroup, vmCgroupLimits(record.spec));
    await rm(paths.qmpSocket, { force: true });
    await rm(paths.pidFile, { force: true });
    // QEMU (unprivileged) cannot create files in its VM directory: what it writes exists already.
    await this.ownedByQemu(paths.pidFile, true);
    await this.ownedByQemu(paths.consoleLog, true);
    const args = buildQemuArgs({ spec: record.spec, template, paths, accelerator, ...(incoming ? { incoming } : {}), ...(flags.startPaused ? { startPaused: true } : {}) });
    const stderrPath = path.join(this.vmDir(record.handleId), 'qemu.stderr');
    const spawned = await this.options.host.spawnQemu(args, stderrPath, (pid) => this.options.cgroups.addProcess(record.cgroup, pid));
    const started: VmRecord = { ...record, accelerator, pid: spawned.pid, startedAt: new Date().toISOString(), finishedAt: null, exitCode: null };
    await this.writeRecord(started);
    let qmp: QmpClient;
    try {
      qmp = await this.connectWhileAlive(paths.qmpSocket, spawned);
    } catch (error) {
      this.options.host.kill(spawned.pid, 'SIGKILL');
      const stderr = await readFile(stderrPath, 'utf8').catch(() => '');
      await this.writeRecord({ ...started, finishedAt: new Date().toISOString(), exitCode: 1 });
      throw new DriverError('driver_failure', `QEMU for ${record.handleId} did not come up: ${errorText(error)} ${stderr.slice(-500)}`, { cause: error });
    }
    await this.confineVcpus(started, qmp);
    this.attach(started, qmp, () => spawned.exited.then(() => undefined));
  }

  /**
   * Moves the vCPU threads into a child cpu group with the VM's quota and gives the whole QEMU
   * that plus the emulator's allowance (see EMULATOR_CPU_QUOTA_US). Until then the whole QEMU
   * is under the vCPUs' quota, so the guest is never above it. Where the cgroup manager cannot
   * split threads (v2 needs threaded groups), the one quota on the whole QEMU stays.
   */
  private async confineVcpus(record: VmRecord, qmp: QmpClient): Promise<void> {
    const cgroups = this.options.cgroups;
    if (!supportsCpuThreadSplit(cgroups)) return;
    try {
      const cpus = await qmp.execute<Array<{ 'thread-id': number }>>('query-cpus-fast');
      await cgroups.splitCpuThreads(record.cgroup, VCPU_CGROUP, cpus.map((cpu) => cpu['thread-id']), vmCpuSplit(record.spec));
    } catch {
      // Best effort: without the split the whole QEMU stays under the vCPUs' quota (stricter, not looser).
    }
  }

  /** Reconnects to a QEMU this driver (or a previous agent) started; never restarts one. */
  private async adopt(record: VmRecord): Promise<void> {
    if (this.live.has(record.handleId)) return;
    const paths = this.paths(record.handleId);
    if (record.pid !== null && (await this.options.host.isQemuProcess(record.pid, paths.qmpSocket))) {
      // QEMU serves one QMP client at a time: a previous agent that has not let go yet
      // (it is still shutting down) makes the first attempts fail.
      const qmp = await retry(() => this.options.connectQmp(paths.qmpSocket), 5_000).catch((error: unknown) => {
        throw new DriverError('engine_unavailable', `QEMU ${record.pid} of ${record.handleId} runs but its QMP socket does not answer`, { cause: error });
      });
      const pid = record.pid;
      this.attach(record, qmp, (entry) => this.pidGone(pid, () => entry.released));
      return;
    }
    if (record.finishedAt === null && record.startedAt !== null) {
      await this.writeRecord({ ...record, finishedAt: new Date().toISOString(), exitCode: record.exitCode ?? 0 });
    }
  }

  /** `processExited` watches the process itself; it must end once the entry is released. */
  private attach(record: VmRecord, qmp: QmpClient, processExited: (entry: LiveVm) => Promise<void>): void {
    const pid = record.pid as number;
    const entry: LiveVm = { pid, qmp, exited: Promise.resolve(), released: false };
    // QMP closing is the first sign of QEMU exiting; the process going away is the proof.
    entry.exited = Promise.race([
      processExited(entry),
      qmp.closed.then(() => (entry.released ? undefined : this.pidGone(pid, () => entry.released))),
    ]).then(async () => {
      qmp.close();
      if (entry.released) return;
      if (this.live.get(record.handleId) === entry) this.live.delete(record.handleId);
      const current = await this.readRecord(record.handleId);
      if (current && current.pid === pid && current.finishedAt === null) {
        await this.writeRecord({ ...current, finishedAt: new Date().toISOString(), exitCode: 0 });
      }
    });
    this.live.set(record.handleId, entry);
  }

  /**
   * Lets go of every VM without touching it (agent shutdown): QEMU accepts one QMP client
   * at a time, so the next agent can only reconnect once this one has closed its sessions.
   */
  async release(): Promise<void> {
    const entries = [...this.live.values()];
    this.live.clear();
    for (const entry of entries) {
      entry.released = true;
      entry.qmp.close();
    }
    await Promise.all(entries.map((entry) => entry.exited));
  }

  private async powerOff(handleId: string, live: LiveVm): Promise<void> {
    await live.qmp.execute('quit', undefined, 5_000).catch(() => undefined);
    if (await settlesWithin(live.exited, 5_000)) return;
    this.options.host.kill(live.pid, 'SIGKILL');
    if (!(await settlesWithin(live.exited, 10_000))) throw new DriverError('driver_failure', `QEMU ${live.pid} of ${handleId} survived SIGKILL`);
  }

  private async connectWhileAlive(socketPath: string, spawned: { pid: number; exited: Promise<number> }): Promise<QmpClient> {
    let exitCode: number | null = null;
    void spawned.exited.then((code) => (exitCode = code));
    const deadline = Date.now() + QMP_CONNECT_TIMEOUT_MS;
    let lastError: unknown;
    while (Date.now() < deadline) {
      if (exitCode !== null) throw new Error(`QEMU exited with code ${exitCode}`);
      try {
        return await this.options.connectQmp(socketPath);
      } catch (error) {
        lastError = error;
        await sleep(50);
      }
    }
    throw new Error(`no QMP on ${socketPath}: ${errorText(lastError)}`);
  }

  /** Polls until `pid` is no longer our QEMU, or until `stopWatching` says to give up. */
  private async pidGone(pid: number, stopWatching: () => boolean): Promise<void> {
    const marker = this.socketDir;
    while (!stopWatching() && (await this.options.host.isQemuProcess(pid, marker))) await sleep(250);
  }

  private async status(handleId: string): Promise<TaskStatus | null> {
    const record = await this.readRecord(handleId);
    if (!record) return null;
    const live = this.live.get(handleId);
    let state: TaskStatus['state'] = 'exited';
    if (live) {
      try {
        state = taskStateFromRunState(await this.runState(live));
      } catch {
        state = 'exited';
      }
    } else if (record.startedAt === null) {
      state = 'created';
    }
    return {
      handleId,
      workloadId: record.workloadId,
      tenantId: record.tenantId,
      generation: record.generation,
      state,
      exitCode: state === 'exited' ? (record.exitCode ?? 0) : null,
      oomKilled: false,
      startedAt: record.startedAt,
      finishedAt: state === 'exited' ? (record.finishedAt ?? new Date().toISOString()) : null,
      pid: live ? live.pid : null,
    };
  }

  private async requireStatus(handleId: string): Promise<TaskStatus> {
    const status = await this.status(handleId);
    if (!status) throw new DriverError('task_not_found', `no VM ${handleId}`);
    return status;
  }

  private async runState(live: LiveVm): Promise<string> {
    const status = await live.qmp.execute<{ status: string }>('query-status');
    return status.status;
  }

  private async hmp(live: LiveVm, command: string): Promise<string> {
    const output = await live.qmp.execute<string>('human-monitor-command', { 'command-line': command }, 120_000);
    // HMP reports failures as text, with a successful QMP reply around it.
    if (/error|could not|can't|cannot|not found|no block device/i.test(output)) {
      throw new DriverError(/not found|does not exist/i.test(output) ? 'snapshot_not_found' : 'driver_failure', `${command}: ${output.trim()}`);
    }
    return output;
  }

  private requireLive(handleId: string): LiveVm {
    const live = this.live.get(handleId);
    if (!live) throw new DriverError('invalid_state', `VM ${handleId} is not running`);
    return live;
  }

  private async requireRecord(handleId: string): Promise<VmRecord> {
    const record = HANDLE.test(handleId) ? await this.readRecord(handleId) : null;
    if (!record) throw new DriverError('task_not_found', `no VM ${handleId}`);
    return record;
  }

  private newRecord(handleId: string, spec: TaskSpec): VmRecord {
    return {
      handleId,
      workloadId: spec.workloadId,
      tenantId: spec.tenantId,
      nodeId: spec.nodeId,
      generation: spec.generation,
      spec,
      accelerator: 'tcg',
      cgroup: this.cgroupName(handleId),
      pid: null,
      startedAt: null,
      finishedAt: null,
      exitCode: null,
    };
  }

  private handleFor(workloadId: string): string {
    const handleId = workloadId.toLowerCase();
    if (!HANDLE.test(handleId)) throw new DriverError('invalid_spec', `workload id ${JSON.stringify(workloadId)} cannot name a VM`);
    return handleId;
  }

  /**
   * Tenant data stays private: the state dir, `vms/` and each VM's directory are 0700, or
   * 0710 with the QEMU user's group (it may traverse to its own files, not list or create
   * anything); the socket directory 0700, or 0770 for that group (QEMU creates its QMP socket).
   */
  private async secureVmDirs(handleId: string): Promise<void> {
    const runAs = this.options.host.runAs ?? null;
    for (const dir of [this.options.stateDir, path.join(this.options.stateDir, 'vms'), this.vmDir(handleId)]) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      if (runAs) await chown(dir, process.getuid?.() ?? 0, runAs.gid);
      await chmod(dir, runAs ? 0o710 : 0o700);
    }
    await mkdir(this.socketDir, { recursive: true, mode: 0o700 });
    if (runAs) await chown(this.socketDir, process.getuid?.() ?? 0, runAs.gid);
    await chmod(this.socketDir, runAs ? 0o770 : 0o700);
  }

  /** A file QEMU opens itself (disk, console, pid file): 0600, owned by the QEMU user. */
  private async ownedByQemu(file: string, create = false): Promise<void> {
    if (create) await (await open(file, 'a', 0o600)).close();
    else if (!(await exists(file))) return; // QEMU reports a missing disk itself
    const runAs = this.options.host.runAs ?? null;
    if (runAs) await chown(file, runAs.uid, runAs.gid);
    await chmod(file, 0o600);
  }

  private vmDir(handleId: string): string {
    return path.join(this.options.stateDir, 'vms', handleId);
  }

  private paths(handleId: string): VmPaths {
    const dir = this.vmDir(handleId);
    return {
      overlay: path.join(dir, 'disk.qcow2'),
      consoleLog: path.join(dir, 'console.log'),
      pidFile: path.join(dir, 'qemu.pid'),
      qmpSocket: path.join(this.socketDir, `${this.instanceTag}-${handleId}.qmp`),
    };
  }

  private async readRecord(handleId: string): Promise<VmRecord | null> {
    try {
      return JSON.parse(await readFile(path.join(this.vmDir(handleId), 'vm.json'), 'utf8')) as VmRecord;
    } catch {
      return null;
    }
  }

  private async writeRecord(record: VmRecord): Promise<void> {
    const file = path.join(this.vmDir(record.handleId), 'vm.json');
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    await writeFile(`${file}.tmp`, JSON.stringify(record, null, 2), { mode: 0o600 });
    await rename(`${file}.tmp`, file);
  }

  private async listHandles(): Promise<string[]> {
    try {
      return (await readdir(path.join(this.options.stateDir, 'vms'))).filter((name) => HANDLE.test(name));
    } catch {
      return [];
    }
  }

  private listTemplates(): Promise<string[]> {
    return this.templates.list();
  }

  private resolveTemplate(ref: string, auth?: TemplatePullAuth): Promise<VmTemplate> {
    return this.templates.resolve(ref, auth);
  }

  /** Boots the probe template under KVM; only a guest that reaches its marker proves KVM works. */
  private async probeKvm(): Promise<Accelerator> {
    try {
      await access('/dev/kvm', fsConstants.R_OK | fsConstants.W_OK);
    } catch {
      return 'tcg';
    }
    const templateName = this.options.probeTemplate ?? (await this.listTemplates())[0];
    if (!templateName) return 'tcg';
    const template = await this.resolveTemplate(templateName);
    const dir = path.join(this.options.stateDir, 'kvm-probe');
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const runAs = this.options.host.runAs ?? null;
    if (runAs) {
      await chown(dir, process.getuid?.() ?? 0, runAs.gid);
      await chmod(dir, 0o710);
    }
    const consoleLog = path.join(dir, 'console.log');
    await this.ownedByQemu(consoleLog, true);
    const args = [
      '-accel', 'kvm', '-cpu', 'host', '-m', '128', '-smp', '1', '-nodefaults', '-no-user-config', '-display', 'none',
      '-kernel', template.kernelPath, '-initrd', template.initrdPath, '-append', template.cmdline,
      '-chardev', `file,id=console0,path=${consoleLog}`, '-serial', 'chardev:console0',
      '-sandbox', QEMU_SANDBOX,
    ];
    const spawned = await this.options.host.spawnQemu(args, path.join(dir, 'qemu.stderr'), async () => undefined);
    let exited = false;
    void spawned.exited.then(() => (exited = true));
    const deadline = Date.now() + (this.options.probeTimeoutMs ?? 8_000);
    let booted = false;
    while (!exited && Date.now() < deadline && !booted) {
      await sleep(200);
      booted = (await readFile(consoleLog, 'utf8').catch(() => '')).includes(GUEST_READY_MARKER);
    }
    this.options.host.kill(spawned.pid, 'SIGKILL');
    await spawned.exited;
    await rm(dir, { recursive: true, force: true });
    return booted ? 'kvm' : 'tcg';
  }

  private serialize<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(key) ?? Promise.resolve();
    const next = previous.then(task, task);
    const settled = next.catch(() => undefined);
    this.queues.set(key, settled);
    void settled.then(() => {
      if (this.queues.get(key) === settled) this.queues.delete(key);
    });
    return next;
  }
}

async function retry<T>(attempt: () => Promise<T>, forMs: number): Promise<T> {
  const deadline = Date.now() + forMs;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(200);
    }
  }
}

function assertSnapshotName(name: string): void {
  if (!SNAPSHOT_NAME.test(name)) throw new DriverError('invalid_spec', `snapshot name must match ${SNAPSHOT_NAME.source}`);
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([promise.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)))]);
  clearTimeout(timer);
  return result;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
