import { join } from 'node:path';

import { CgroupError } from './cgroup.exception';
import type { CgroupFiles } from './cgroup-files';
import { assertLimits, DEFAULT_CPU_PERIOD_US } from './cgroup-limits';
import { parseCgroupName } from './cgroup-name';
import type { CgroupLimits, CgroupManager, CgroupSnapshot } from './cgroup.types';
import {
  addPid,
  assertGroupExists,
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

const DELEGATED_CONTROLLERS = ['cpu', 'memory', 'pids'] as const;

export interface CgroupV2Context {
  files: CgroupFiles;
  procRoot: string;
  /** The unified (`cgroup2`) mount at the cgroup filesystem root. */
  mount: MountInfoEntry;
  /** Where the current process sits; groups are created below it. */
  ownDirectory: string;
}

/** v2 has one tree; a child only gets controller files once its parent delegates them. */
export class CgroupV2Manager implements CgroupManager {
  readonly version = 2 as const;

  constructor(private readonly context: CgroupV2Context) {}

  async create(name: string, limits: CgroupLimits): Promise<void> {
    assertLimits(limits);
    let parent = this.context.ownDirectory;
    for (const segment of parseCgroupName(name)) {
      await this.delegateControllers(parent);
      parent = join(parent, segment);
      await mkdirGroup(this.context.files, parent);
    }
    const write = (file: string, value: string) =>
      writeControl(this.context.files, join(parent, file), value, 'controller_unavailable');
    await write('cpu.max', `${limits.cpuQuotaUs ?? 'max'} ${limits.cpuPeriodUs ?? DEFAULT_CPU_PERIOD_US}`);
    await write('memory.max', String(limits.memoryBytes ?? 'max'));
    await write('pids.max', String(limits.pidsMax ?? 'max'));
  }

  async addProcess(name: string, pid: number): Promise<void> {
    await addPid(this.context.files, this.groupDirectory(name), pid);
  }

  async read(name: string): Promise<CgroupSnapshot> {
    const directory = this.groupDirectory(name);
    await assertGroupExists(this.context.files, name, [directory]);
    return readV2Snapshot(this.context.files, directory);
  }

  async readForPid(pid: number): Promise<CgroupSnapshot> {
    const entries = await readProcessCgroups(this.context.files, this.context.procRoot, pid);
    return readV2Snapshot(this.context.files, resolveV2Directory(this.context.mount, entries, `process ${pid}`));
  }

  async destroy(name: string): Promise<void> {
    await rmdirGroup(this.context.files, this.groupDirectory(name));
  }

  private groupDirectory(name: string): string {
    return join(this.context.ownDirectory, ...parseCgroupName(name));
  }

  private async delegateControllers(directory: string): Promise<void> {
    const files = this.context.files;
    const available = words(await readOptional(files, join(directory, 'cgroup.controllers')));
    const unavailable = DELEGATED_CONTROLLERS.filter((controller) => !available.includes(controller));
    if (unavailable.length > 0) {
      throw new CgroupError(
        'controller_unavailable',
        `${directory} has no ${unavailable.join(', ')} controller: its parent must list it in cgroup.subtree_control`,
      );
    }
    const enabled = words(await readOptional(files, join(directory, 'cgroup.subtree_control')));
    const missing = DELEGATED_CONTROLLERS.filter((controller) => !enabled.includes(controller));
    if (missing.length === 0) return;
    try {
      await writeControl(files, join(directory, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' '), 'controller_unavailable');
    } catch (error) {
      if (error instanceof CgroupError && error.code === 'busy') {
        // The "no internal processes" rule: a non-root group with member processes cannot
        // hand controllers to children. The agent must run in a leaf of a delegated group.
        throw new CgroupError(
          'busy',
          `cannot delegate controllers from ${directory}: it has member processes; run the agent in a leaf group (e.g. ${join(directory, 'agent')}) and manage groups from its parent`,
          { cause: error },
        );
      }
      throw error;
    }
  }
}

export function resolveV2Directory(mount: MountInfoEntry, entries: ProcCgroupEntry[], owner: string): string {
  const unified = entries.find((entry) => entry.hierarchyId === 0 && entry.controllers.length === 0);
  if (!unified) throw new CgroupError('controller_unavailable', `${owner} has no cgroup v2 membership`);
  const directory = hostDirectoryFor(mount, unified.path);
  if (directory === null) {
    throw new CgroupError('controller_unavailable', `the cgroup2 mount does not expose ${unified.path} (${owner})`);
  }
  return directory;
}

/** Limit files are absent in the root group and read as unlimited; usage files are required. */
async function readV2Snapshot(files: CgroupFiles, directory: string): Promise<CgroupSnapshot> {
  const paths = {
    cpuMax: join(directory, 'cpu.max'),
    cpuStat: join(directory, 'cpu.stat'),
    memoryMax: join(directory, 'memory.max'),
    memoryCurrent: join(directory, 'memory.current'),
    memoryPeak: join(directory, 'memory.peak'),
    memoryEvents: join(directory, 'memory.events'),
    pidsMax: join(directory, 'pids.max'),
    pidsCurrent: join(directory, 'pids.current'),
  };
  const [cpuMax, cpuStat, memoryMax, memoryCurrent, memoryPeak, memoryEvents, pidsMax, pidsCurrent] = await Promise.all([
    readOptional(files, paths.cpuMax),
    readRequired(files, paths.cpuStat),
    readOptional(files, paths.memoryMax),
    readRequired(files, paths.memoryCurrent),
    readOptional(files, paths.memoryPeak),
    readOptional(files, paths.memoryEvents),
    readOptional(files, paths.pidsMax),
    readRequired(files, paths.pidsCurrent),
  ]);
  const [quota = 'max', period = String(DEFAULT_CPU_PERIOD_US)] = words(cpuMax);
  const cpuCounters = parseKeyedCounts(cpuStat);
  const usageUs = cpuCounters.get('usage_usec');
  if (usageUs === undefined) throw new CgroupError('io_failure', `${paths.cpuStat} has no usage_usec`);
  const throttledPeriods = optionalKeyedCount(cpuCounters, 'nr_throttled', paths.cpuStat);
  return {
    version: 2,
    cpu: {
      quotaUs: parseLimit(quota, paths.cpuMax),
      periodUs: parseCount(period, paths.cpuMax),
      usageNs: parseBigCount(usageUs, paths.cpuStat) * 1000n,
      ...(throttledPeriods === null ? {} : { throttledPeriods }),
    },
    memory: {
      limitBytes: parseLimit(memoryMax, paths.memoryMax),
      usageBytes: parseCount(memoryCurrent, paths.memoryCurrent),
      // memory.peak exists since Linux 5.19.
      peakBytes: memoryPeak === null ? null : parseCount(memoryPeak, paths.memoryPeak),
      oomKills: optionalKeyedCount(parseKeyedCounts(memoryEvents), 'oom_kill', paths.memoryEvents),
    },
    pids: { max: parseLimit(pidsMax, paths.pidsMax), current: parseCount(pidsCurrent, paths.pidsCurrent) },
    hostPaths: { cpu: directory, cpuacct: directory, memory: directory, pids: directory },
  };
}

function words(text: string | null): string[] {
  return (text ?? '').split(/\s+/).filter((word) => word !== '');
}
