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
