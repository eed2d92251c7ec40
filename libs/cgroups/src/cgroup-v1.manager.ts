import { join } from 'node:path';

import { CgroupError } from './cgroup.exception';
import type { CgroupFiles } from './cgroup-files';
import { assertLimits, DEFAULT_CPU_PERIOD_US } from './cgroup-limits';
import { parseCgroupName } from './cgroup-name';
import type { CgroupLimits, CgroupManager, CgroupSnapshot, CpuThreadSplit } from './cgroup.types';
import {
  addPid,
  assertGroupExists,
  assertPid,
  mkdirGroup,
  optionalKeyedCount,
  parseBigCount,
  parseCount,
  parseKeyedCounts,
  parseLimit,
  readOptional,
  readRequired,
  rmdirGroup,
  writeControl,
} from './control-files';
import { hostDirectoryFor, type MountInfoEntry, type ProcCgroupEntry } from './proc-files';
import { readProcessCgroups } from './process-cgroups';

export const V1_CONTROLLERS = ['cpu', 'cpuacct', 'memory', 'pids'] as const;
export type V1Controller = (typeof V1_CONTROLLERS)[number];
export type V1Directories = Record<V1Controller, string>;

export interface CgroupV1Context {
  files: CgroupFiles;
  procRoot: string;
  /** The v1 (`cgroup` filesystem) mounts below the cgroup filesystem root. */
  mounts: MountInfoEntry[];
  /** Where the current process sits in each hierarchy; groups are created below these. */
  ownDirectories: V1Directories;
}

/**
 * v1 keeps one tree per controller (or per co-mounted set such as `cpu,cpuacct`), so a group
 * is one directory per hierarchy and a process can sit at different paths in each.
 */
export class CgroupV1Manager implements CgroupManager, CpuThreadSplit {
  readonly version = 1 as const;

  constructor(private readonly context: CgroupV1Context) {}

  async create(name: string, limits: CgroupLimits): Promise<void> {
    assertLimits(limits);
    const directories = this.groupDirectories(name);
    for (const directory of distinct(directories)) await mkdirGroup(this.context.files, directory);
    const write = (controller: V1Controller, file: string, value: number | string) =>
      writeControl(this.context.files, join(directories[controller], file), String(value), 'controller_unavailable');
    // Period before quota, as runc does: the kernel validates the quota against the period.
    await write('cpu', 'cpu.cfs_period_us', limits.cpuPeriodUs ?? DEFAULT_CPU_PERIOD_US);
    await write('cpu', 'cpu.cfs_quota_us', limits.cpuQuotaUs ?? -1);
    await write('memory', 'memory.limit_in_bytes', limits.memoryBytes ?? -1);
    await write('pids', 'pids.max', limits.pidsMax ?? 'max');
  }

  async addProcess(name: string, pid: number): Promise<void> {
    assertPid(pid);
    const directories = this.groupDirectories(name);
    for (const directory of distinct(directories)) await addPid(this.context.files, directory, pid);
  }

  async read(name: string): Promise<CgroupSnapshot> {
    const directories = this.groupDirectories(name);
    await assertGroupExists(this.context.files, name, distinct(directories));
    return readV1Snapshot(this.context.files, directories);
  }

  async readForPid(pid: number): Promise<CgroupSnapshot> {
    const entries = await readProcessCgroups(this.context.files, this.context.procRoot, pid);
    return readV1Snapshot(this.context.files, resolveV1Directories(this.context.mounts, entries, `process ${pid}`));
  }

  async splitCpuThreads(name: string, child: string, threadIds: number[], quota: { periodUs: number; childQuotaUs: number; groupQuotaUs: number }): Promise<void> {
    if (quota.groupQuotaUs < quota.childQuotaUs) throw new CgroupError('invalid_limits', `group quota ${quota.groupQuotaUs} is below its sub-group's ${quota.childQuotaUs}`);
    assertLimits({ cpuPeriodUs: quota.periodUs, cpuQuotaUs: quota.childQuotaUs });
    assertLimits({ cpuPeriodUs: quota.periodUs, cpuQuotaUs: quota.groupQuotaUs });
    for (const tid of threadIds) assertPid(tid);
    const group = this.groupDirectories(name).cpu;
    const directory = this.groupDirectories(`${name}/${child}`).cpu;
    await assertGroupExists(this.context.files, name, [group]);
    await mkdirGroup(this.context.files, directory);
    const write = (dir: string, file: string, value: number) => writeControl(this.context.files, join(dir, file), String(value), 'controller_unavailable');
    await write(directory, 'cpu.cfs_period_us', quota.periodUs);
    await write(directory, 'cpu.cfs_quota_us', quota.childQuotaUs);
    // `tasks` takes thread ids (cgroup.procs would move the whole process).
    for (const tid of threadIds) await writeControl(this.context.files, join(directory, 'tasks'), String(tid), 'not_found');
    await write(group, 'cpu.cfs_quota_us', quota.groupQuotaUs);
  }

  async destroy(name: string): Promise<void> {
    for (const directory of distinct(this.groupDirectories(name))) await rmdirGroup(this.context.files, directory);
  }

  private groupDirectories(name: string): V1Directories {
    const segments = parseCgroupName(name);
    const own = this.context.ownDirectories;
    return {
      cpu: join(own.cpu, ...segments),
      cpuacct: join(own.cpuacct, ...segments),
      memory: join(own.memory, ...segments),
      pids: join(own.pids, ...segments),
    };
  }
}

/** Maps a process's per-hierarchy cgroup paths to host directories through the mounts. */
export function resolveV1Directories(mounts: MountInfoEntry[], entries: ProcCgroupEntry[], owner: string): V1Directories {
  const resolve = (controller: V1Controller): string => {
    const entry = entries.find((candidate) => candidate.controllers.includes(controller));
    if (!entry) throw new CgroupError('controller_unavailable', `${owner} is in no ${controller} cgroup`);
    for (const mount of mounts) {
      if (!mount.superOptions.includes(controller)) continue;
      const directory = hostDirectoryFor(mount, entry.path);
      if (directory !== null) return directory;
    }
    throw new CgroupError('controller_unavailable', `no mounted ${controller} hierarchy exposes ${entry.path} (${owner})`);
  };
  return { cpu: resolve('cpu'), cpuacct: resolve('cpuacct'), memory: resolve('memory'), pids: resolve('pids') };
}

/**
 * v1 reports "no memory limit" as PAGE_COUNTER_MAX pages in bytes (9223372036854771712 with
 * 4 KiB pages; the exact value depends on the page size). No machine has 2^53 bytes (8 PiB),
 * so anything beyond a safe integer is treated as unlimited rather than matched exactly.
 */
function parseV1MemoryLimit(text: string | null, path: string): number | null {
  if (text === null || text === '-1') return null;
  const bytes = parseBigCount(text, path);
  return bytes > BigInt(Number.MAX_SAFE_INTEGER) ? null : Number(bytes);
}

/**
 * Every value is read from the directory of the controller that accounts for it, so usage and
 * the limit that constrains it always come from the same group. Limit files absent for a group
 * (the hierarchy root has none) read as unlimited; absent usage files are an error.
 */
async function readV1Snapshot(files: CgroupFiles, directories: V1Directories): Promise<CgroupSnapshot> {
  const paths = {
    quota: join(directories.cpu, 'cpu.cfs_quota_us'),
    period: join(directories.cpu, 'cpu.cfs_period_us'),
    cpuStat: join(directories.cpu, 'cpu.stat'),
    usage: join(directories.cpuacct, 'cpuacct.usage'),
    memoryLimit: join(directories.memory, 'memory.limit_in_bytes'),
    memoryUsage: join(directories.memory, 'memory.usage_in_bytes'),
    memoryPeak: join(directories.memory, 'memory.max_usage_in_bytes'),
    oomControl: join(directories.memory, 'memory.oom_control'),
    pidsMax: join(directories.pids, 'pids.max'),
    pidsCurrent: join(directories.pids, 'pids.current'),
  };
  const [quota, period, cpuStat, usage, memoryLimit, memoryUsage, memoryPeak, oomControl, pidsMax, pidsCurrent] =
    await Promise.all([
      readOptional(files, paths.quota),
      readOptional(files, paths.period),
      readOptional(files, paths.cpuStat),
      readRequired(files, paths.usage),
      readOptional(files, paths.memoryLimit),
      readRequired(files, paths.memoryUsage),
      readOptional(files, paths.memoryPeak),
      readOptional(files, paths.oomControl),
      readOptional(files, paths.pidsMax),
      readRequired(files, paths.pidsCurrent),
    ]);
  const throttledPeriods = optionalKeyedCount(parseKeyedCounts(cpuStat), 'nr_throttled', paths.cpuStat);
  return {
    version: 1,
    cpu: {
      quotaUs: quota === null || quota === '-1' ? null : parseCount(quota, paths.quota),
      periodUs: period === null ? DEFAULT_CPU_PERIOD_US : parseCount(period, paths.period),
      usageNs: parseBigCount(usage, paths.usage),
      ...(throttledPeriods === null ? {} : { throttledPeriods }),
    },
    memory: {
      limitBytes: parseV1MemoryLimit(memoryLimit, paths.memoryLimit),
      usageBytes: parseCount(memoryUsage, paths.memoryUsage),
      peakBytes: memoryPeak === null ? null : parseCount(memoryPeak, paths.memoryPeak),
      // The oom_kill line exists since Linux 4.13.
      oomKills: optionalKeyedCount(parseKeyedCounts(oomControl), 'oom_kill', paths.oomControl),
    },
    pids: { max: parseLimit(pidsMax, paths.pidsMax), current: parseCount(pidsCurrent, paths.pidsCurrent) },
    hostPaths: { ...directories },
  };
}

function distinct(directories: V1Directories): string[] {
  return [...new Set(Object.values(directories))];
}
