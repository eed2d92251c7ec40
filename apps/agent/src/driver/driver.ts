/**
 * The contract between the agent and whatever runs workloads on a node, after Nomad's
 * DriverPlugin. Implementations keep their engine's types to themselves.
 */

export type DriverName = 'docker' | 'vm';

export interface TaskResources {
  cpuMillis: number;
  memoryMiB: number;
  pids: number;
}

export interface TaskSpec {
  workloadId: string;
  tenantId: string;
  nodeId: string;
  /** Bumped by the control plane on every user "start"; stored as a label. */
  generation: number;
  image: string;
  command?: string[];
  env?: Record<string, string>;
  resources: TaskResources;
  /**
   * Containers: the image's filesystem is mounted read-only; `/tmp` is a writable tmpfs
   * (`tmpfsSizeMiB(resources.memoryMiB)`, charged to the container's memory limit).
   */
  readOnlyRootFilesystem?: boolean;
  /** Only for the `vm` driver, which refuses a spec without it (`invalid_spec`). */
  vm?: VmTaskSpec;
  /** A short-lived token to pull `image` from the registry it names when it is not local. */
  pullAuth?: { registry: string; token: string };
}

/**
 * A VM's shape. `resources.memoryMiB` is the guest RAM; `resources.cpuMillis` caps the CPU
 * time of all vCPUs together (the quota is min(vcpus, cpuMillis / 1000) CPUs).
 */
export interface VmTaskSpec {
  vcpus: number;
  diskGiB: number;
  /** A template name known to the host (a directory under the driver's template root). */
  template: string;
  /** Extra guest kernel command-line words (the tiny test guest reads `gureum.*` flags). */
  kernelArgs?: string[];
}

export type TaskState = 'created' | 'running' | 'paused' | 'exited';

export interface TaskStatus {
  /** Docker: the full container id. */
  handleId: string;
  workloadId: string;
  tenantId: string;
  /** The generation this task last started for (see TaskStateStore). */
  generation: number;
  state: TaskState;
  /** Only for `exited`. */
  exitCode: number | null;
  oomKilled: boolean;
  startedAt: string | null;
  /** Only for `exited`. */
  finishedAt: string | null;
  /** Host pid of the task's first process while it runs. */
  pid: number | null;
}

export interface TaskStats {
  cpuUsageNs: bigint;
  memoryBytes: number;
  memoryPeakBytes: number | null;
  pids: number;
  limits: { cpuQuotaUs: number | null; cpuPeriodUs: number; memoryBytes: number | null; pidsMax: number | null };
}

export interface DriverFingerprint {
  driver: DriverName;
  healthy: boolean;
  detail: string;
  capacity: TaskResources;
  /** repo:tag references present locally. */
  images: string[];
}

export interface WorkloadDriver {
  readonly name: DriverName;
  /** Never throws for an unreachable engine: reports `healthy: false` with zero capacity. */
  fingerprint(): Promise<DriverFingerprint>;
  /**
   * Creates the task if absent and starts it; idempotent per workloadId + generation: a task
   * that already ran for this generation is returned as it is, even when it has exited.
   * A newer generation replaces a stopped task (fresh container from the new spec) and is
   * only recorded for a live one. An older generation is refused (`stale_generation`).
   */
  start(spec: TaskSpec): Promise<TaskStatus>;
  /**
   * Starts an existing stopped task again under a newer generation, keeping its handle.
   * Idempotent: a repeated call for the generation it last started for changes nothing.
   */
  restart(handleId: string, generation: number): Promise<TaskStatus>;
  /** Every task on this engine labelled for nodeId, running or not; adopts, never restarts. */
  recover(nodeId: string): Promise<TaskStatus[]>;
  /** Resolves when the task is not running (at once for a task that is not). */
  wait(handleId: string): Promise<TaskStatus>;
  /** Graceful signal, then kill after timeoutSeconds; no error if already stopped. */
  stop(handleId: string, timeoutSeconds: number): Promise<void>;
  /** Removes the task, killing it if it runs; no error if already gone. */
  destroy(handleId: string): Promise<void>;
  /** null when the task is gone (or is not one of ours). */
  inspect(handleId: string): Promise<TaskStatus | null>;
  /** Only for a running task (`task_not_running` otherwise). */
  stats(handleId: string): Promise<TaskStats>;
}

/** Optional capability: freeze and thaw a running task without losing its state. */
export interface PausableDriver {
  pause(handleId: string): Promise<void>;
  resume(handleId: string): Promise<void>;
}

export interface SnapshotInfo {
  name: string;
  /** true when the snapshot holds the guest's memory and device state, not only its disk. */
  withMemory: boolean;
  createdAt: string;
  vmStateBytes: number;
}

/** Optional capability: named snapshots, with or without memory state. */
export interface SnapshotDriver {
  snapshot(handleId: string, name: string, options: { withMemory: boolean }): Promise<SnapshotInfo>;
  restore(handleId: string, name: string): Promise<void>;
  listSnapshots(handleId: string): Promise<SnapshotInfo[]>;
  deleteSnapshot(handleId: string, name: string): Promise<void>;
}

export interface MigrationTarget {
  host: string;
  port: number;
}

export interface MigrationResult {
  status: 'completed' | 'failed' | 'cancelled';
  totalTimeMs: number | null;
  downtimeMs: number | null;
  transferredBytes: number | null;
  error?: string;
}

/** Optional capability: live migration between two agents' drivers. */
export interface MigratableDriver {
  /** On the destination: starts the task paused, waiting for the incoming state on `target`. */
  prepareIncoming(spec: TaskSpec, target: MigrationTarget): Promise<TaskStatus>;
  /** On the source: sends the running task to `target` and resolves when that ends; a failure leaves the source running. */
  migrate(handleId: string, target: MigrationTarget): Promise<MigrationResult>;
  migrationStatus(handleId: string): Promise<MigrationResult | null>;
}

export interface CommitSpec {
  workloadId: string;
  tenantId: string;
  nodeId: string;
  /** `<registry>/<repository>:<tag>`, in the registry `pushAuth` is for. */
  image: string;
  pushAuth: { registry: string; token: string };
}

/** Optional capability: save a task's filesystem as an image and push it to a registry. */
export interface CommittableDriver {
  commit(spec: CommitSpec): Promise<{ image: string; digest: string }>;
}

/** Where a log read goes on from: the timestamp of the last entry read and how many entries of exactly that time were read. */
export interface LogCursorPosition {
  sinceNs: bigint;
  skip: number;
}

export interface LogsSpec {
  workloadId: string;
  tenantId: string;
  nodeId: string;
  cursor?: LogCursorPosition;
  /** First read only: the last `tail` entries. */
  tail?: number;
  /** At most this many bytes of log text. */
  maxBytes: number;
}

export interface TaskLogs {
  entries: Array<{ stream: 'stdout' | 'stderr'; time: string; data: Buffer }>;
  /** Null only when nothing was ever read. */
  cursor: LogCursorPosition | null;
  /** Entries were left out to keep within `maxBytes`. */
  more: boolean;
  running: boolean;
}

/** Optional capability: read what a task wrote to stdout and stderr. */
export interface LoggingDriver {
  logs(spec: LogsSpec): Promise<TaskLogs>;
}

export type DriverErrorCode =
  | 'image_not_found'
  /** the image was not local and pulling it failed; the message says why */
  | 'image_pull_failed'
  /** pushing a committed or built image failed; `quota` when the registry refused for storage quota */
  | 'image_push_failed'
  | 'quota_exceeded'
  | 'task_not_found'
  /** stats of a task that has no running process */
  | 'task_not_running'
  /** start/restart for a generation older than the one the task already carries */
  | 'stale_generation'
  | 'engine_unavailable'
  | 'invalid_spec'
  /** an operation the task's current state does not allow (pausing a stopped VM) */
  | 'invalid_state'
  | 'snapshot_not_found'
  | 'driver_failure';

export class DriverError extends Error {
  constructor(
    readonly code: DriverErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DriverError';
  }
}
