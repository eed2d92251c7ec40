import { DriverError, type TaskSpec, type TaskState, type TaskStatus } from '../driver';
import type { ContainerCreateRequest, ContainerRecord, ContainerStatus } from './docker-engine';

export const LABELS = {
  managed: 'io.gureum.managed',
  node: 'io.gureum.node',
  workload: 'io.gureum.workload',
  tenant: 'io.gureum.tenant',
  generation: 'io.gureum.generation',
} as const;

export const CPU_PERIOD_US = 100_000;
/** CFS refuses quotas below 1 ms; Docker refuses memory limits below 6 MiB. */
const MIN_CPU_MILLIS = 10;
const MIN_MEMORY_MIB = 6;
const MiB = 1024 * 1024;

/** Ids become container, network and label values: Docker's name alphabet, bounded. */
const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DOCKER_ZERO_TIME = '0001-01-01T00:00:00Z';

/**
 * Unique per node, not only per workload: when a workload moves (drain, lost host) two agents
 * sharing one engine (tests, or a node running two agents) must not fight over one name.
 */
export const containerName = (nodeId: string, workloadId: string) => `gureum-${nodeId}-${workloadId}`;
export const tenantNetworkName = (tenantId: string) => `gureum-t-${tenantId}`;

export function assertId(kind: string, value: string): void {
  if (!ID.test(value)) throw new DriverError('invalid_spec', `${kind} ${JSON.stringify(value)} must match ${ID.source}`);
}

export function assertGeneration(generation: number): void {
  if (!Number.isSafeInteger(generation) || generation < 0) {
    throw new DriverError('invalid_spec', `generation must be a non-negative integer, got ${generation}`);
  }
}

export function validateSpec(spec: TaskSpec): void {
  assertId('workloadId', spec.workloadId);
  assertId('tenantId', spec.tenantId);
  assertId('nodeId', spec.nodeId);
  assertGeneration(spec.generation);
  if (!/^\S{1,255}$/.test(spec.image)) throw new DriverError('invalid_spec', `image ${JSON.stringify(spec.image)} is not a reference`);
  const { cpuMillis, memoryMiB, pids } = spec.resources;
  const integerAtLeast = (value: number, minimum: number) => Number.isSafeInteger(value) && value >= minimum;
  if (!integerAtLeast(cpuMillis, MIN_CPU_MILLIS)) throw new DriverError('invalid_spec', `cpuMillis must be an integer >= ${MIN_CPU_MILLIS}, got ${cpuMillis}`);
  if (!integerAtLeast(memoryMiB, MIN_MEMORY_MIB)) throw new DriverError('invalid_spec', `memoryMiB must be an integer >= ${MIN_MEMORY_MIB}, got ${memoryMiB}`);
  if (!integerAtLeast(pids, 1)) throw new DriverError('invalid_spec', `pids must be a positive integer, got ${pids}`);
  for (const name of Object.keys(spec.env ?? {})) {
    if (!ENV_NAME.test(name)) throw new DriverError('invalid_spec', `environment variable name ${JSON.stringify(name)} is invalid`);
  }
}

/**
 * Size of the writable `/tmp` of a read-only root filesystem: a quarter of the memory limit
 * (tmpfs pages are charged to the container's memory cgroup, so a full /tmp can never take
 * more than the tenant pays for, and a quarter leaves the process room), 1..256 MiB.
 */
/**
 * A container's log is kept for its life but bounded: at most 2 × 10 MiB on the host's disk
 * (json-file rotates), which also bounds what a logs read costs the agent.
 */
export const CONTAINER_LOG_MAX_SIZE = '10m';
export const CONTAINER_LOG_MAX_FILES = 2;

export function tmpfsSizeMiB(memoryMiB: number): number {
  return Math.min(256, Math.max(1, Math.floor(memoryMiB / 4)));
}

/**
 * The whole security and resource posture of a task. No restart policy (the control plane
 * decides), no extra swap, no capabilities, no privilege escalation, the tenant's own bridge
 * network and nothing mounted from the host. Docker's init (tini) is PID 1, always: the
 * tenant's process is PID 2, so a stop's SIGTERM has its default effect (the kernel ignores
 * signals without a handler for a namespace's PID 1, which made a stop wait out the timeout
 * and SIGKILL), and zombies are reaped. Root in the container is an unprivileged host uid
 * through the engine's `--userns-remap` (an engine setting, reported in the fingerprint).
 */
export function toContainerCreate(spec: TaskSpec, network: string): ContainerCreateRequest {
  const memoryBytes = spec.resources.memoryMiB * MiB;
  return {
    name: containerName(spec.nodeId, spec.workloadId),
    Image: spec.image,
    ...(spec.command && spec.command.length > 0 ? { Cmd: [...spec.command] } : {}),
    Env: Object.entries(spec.env ?? {}).map(([name, value]) => `${name}=${value}`),
    Labels: {
      [LABELS.managed]: 'true',
      [LABELS.node]: spec.nodeId,
      [LABELS.workload]: spec.workloadId,
      [LABELS.tenant]: spec.tenantId,
      [LABELS.generation]: String(spec.generation),
    },
    HostConfig: {
      CpuPeriod: CPU_PERIOD_US,
      // millicores × period / 1000: 500 m → 50 000 µs of every 100 000 µs.
      CpuQuota: (spec.resources.cpuMillis * CPU_PERIOD_US) / 1000,
      Memory: memoryBytes,
      MemorySwap: memoryBytes,
      PidsLimit: spec.resources.pids,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      Privileged: false,
      ReadonlyRootfs: spec.readOnlyRootFilesystem === true,
      ...(spec.readOnlyRootFilesystem === true
        ? { Tmpfs: { '/tmp': `rw,nosuid,nodev,size=${tmpfsSizeMiB(spec.resources.memoryMiB)}m,mode=1777` } }
        : {}),
      Init: true,
      RestartPolicy: { Name: 'no' },
      NetworkMode: network,
      LogConfig: { Type: 'json-file', Config: { 'max-size': CONTAINER_LOG_MAX_SIZE, 'max-file': String(CONTAINER_LOG_MAX_FILES) } },
    },
  };
}

export function isManaged(record: ContainerRecord): boolean {
  return record.labels[LABELS.managed] === 'true' && record.labels[LABELS.workload] !== undefined;
}

export function labelGeneration(record: ContainerRecord): number {
  const generation = Number(record.labels[LABELS.generation]);
  return Number.isSafeInteger(generation) && generation >= 0 ? generation : 0;
}

const STATES: Record<ContainerStatus, TaskState> = {
  created: 'created',
  running: 'running',
  // Only with a restart policy, which we never set; it is alive either way.
  restarting: 'running',
  paused: 'paused',
  removing: 'exited',
  exited: 'exited',
  dead: 'exited',
};

export function toTaskStatus(record: ContainerRecord, generation: number): TaskStatus {
  const state = STATES[record.status] ?? 'exited';
  const time = (value: string) => (value === '' || value === DOCKER_ZERO_TIME ? null : value);
  return {
    handleId: record.id,
    workloadId: record.labels[LABELS.workload] ?? '',
    tenantId: record.labels[LABELS.tenant] ?? '',
    generation,
    state,
    exitCode: state === 'exited' ? record.exitCode : null,
    oomKilled: record.oomKilled,
    startedAt: time(record.startedAt),
    // Docker keeps the previous run's finish time while a restarted container runs.
    finishedAt: state === 'exited' ? time(record.finishedAt) : null,
    pid: record.pid > 0 ? record.pid : null,
  };
}
