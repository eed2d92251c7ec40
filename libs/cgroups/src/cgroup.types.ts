export type CgroupVersion = 1 | 2;

/** Limits for a group; an omitted limit means unlimited (the period defaults to 100000 µs). */
export interface CgroupLimits {
  cpuQuotaUs?: number;
  cpuPeriodUs?: number;
  memoryBytes?: number;
  pidsMax?: number;
}

export interface CgroupSnapshot {
  version: CgroupVersion;
  cpu: {
    /** null = unlimited */
    quotaUs: number | null;
    periodUs: number;
    usageNs: bigint;
    /** Periods in which the group hit its quota; absent when the kernel does not report it. */
    throttledPeriods?: number;
  };
  memory: {
    /** null = unlimited */
    limitBytes: number | null;
    usageBytes: number;
    peakBytes: number | null;
    oomKills: number | null;
  };
  pids: {
    /** null = unlimited */
    max: number | null;
    current: number;
  };
  /** Host directory read for each controller (for debugging); on v2 all four are the same. */
  hostPaths: CgroupHostPaths;
}

export type CgroupHostPaths = Readonly<Record<'cpu' | 'cpuacct' | 'memory' | 'pids', string>>;

/**
 * Groups are addressed by a logical name (`[a-z0-9._-]`, at most one level of nesting `a/b`)
 * and created below the cgroup the current process is in, so the caller never handles host
 * paths. On v1 a group exists once per controller hierarchy (cpu, cpuacct, memory, pids).
 */
export interface CgroupManager {
  readonly version: CgroupVersion;
  /** Creates the group if absent and sets every limit (omitted ones back to unlimited). */
  create(name: string, limits: CgroupLimits): Promise<void>;
  /** Moves a process into the group. Memory it charged before the move stays where it was. */
  addProcess(name: string, pid: number): Promise<void>;
  read(name: string): Promise<CgroupSnapshot>;
  /** Reads the groups a process is in, resolved per controller from /proc/<pid>/cgroup. */
  readForPid(pid: number): Promise<CgroupSnapshot>;
  /** Removes the group (not its nesting parent); resolves when it is already gone. */
  destroy(name: string): Promise<void>;
}

/**
 * Optional capability: a CPU-only sub-group for some threads of a group's process (libvirt's
 * vCPU/emulator layout). Only the cpu controller is split; cpuacct, memory and pids keep the
 * whole process in the group, so usage and limits read from the group still cover all of it.
 */
export interface CpuThreadSplit {
  /**
   * Creates `<name>/<child>` in the cpu hierarchy with `childQuotaUs` per `periodUs`, moves
   * `threadIds` there, then sets the group's own quota to `groupQuotaUs` (≥ the child's; the
   * kernel refuses a child quota above its parent's). In that order the threads are never
   * under a higher cap than the group had. `destroy(`${name}/${child}`)` removes the sub-group.
   */
  splitCpuThreads(name: string, child: string, threadIds: number[], quota: { periodUs: number; childQuotaUs: number; groupQuotaUs: number }): Promise<void>;
}

export function supportsCpuThreadSplit(manager: CgroupManager): manager is CgroupManager & CpuThreadSplit {
  return typeof (manager as Partial<CpuThreadSplit>).splitCpuThreads === 'function';
}
