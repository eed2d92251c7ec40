import { readFile } from 'node:fs/promises';

import { CgroupError, createCgroupManager, type CgroupManager } from '@gureum/cgroups';

import {
  DriverError,
  type CommitSpec,
  type CommittableDriver,
  type DriverFingerprint,
  type LoggingDriver,
  type LogsSpec,
  type TaskLogs,
  type TaskResources,
  type TaskSpec,
  type TaskStats,
  type TaskStatus,
  type WorkloadDriver,
} from '../driver';
import type { TaskStateStore } from '../task-state.store';
import { InMemoryTaskOwnershipStore, type OwnedTask, type TaskOwnershipStore } from '../task-ownership.store';
import { EngineError, type ContainerRecord, type DockerEngine } from './docker-engine';
import {
  assertGeneration,
  assertId,
  containerName,
  isManaged,
  labelGeneration,
  LABELS,
  tenantNetworkName,
  toContainerCreate,
  toTaskStatus,
  validateSpec,
} from './docker.mapping';

const MiB = 1024 * 1024;

/** Reads the cgroups of a host pid; `@gureum/cgroups`' manager fits. */
export type CgroupReader = Pick<CgroupManager, 'readForPid'>;

/** Where the driver says what it noticed and left alone (pino's Logger fits). */
export interface DriverLog {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

export interface DockerDriverOptions {
  stateStore: TaskStateStore;
  /**
   * Which containers this agent created: the only thing that makes one a task. Default: in
   * memory, adopting by name on the first recovery (a test's fresh driver).
   */
  ownership?: TaskOwnershipStore;
  logger?: DriverLog;
  /** default: a `@gureum/cgroups` manager for this host, created on first use */
  cgroups?: CgroupReader;
  /** Replaces what the engine and kernel report, per field. */
  capacity?: Partial<TaskResources>;
  /** default /proc/sys/kernel/pid_max */
  pidMaxPath?: string;
}

/**
 * Runs tasks as Docker containers. Everything it creates is labelled with its owners, but a
 * label is not ownership: images carry labels into every container made from them. The
 * driver only ever touches containers its node-local ownership record says it created (see
 * TaskOwnershipStore); a handle to anything else reads as gone, and a container that merely
 * looks like ours is logged and left alone. Container pids and cgroups are read on this host, so the agent must run
 * on the engine's host, in its pid namespace.
 */
export class DockerDriver implements WorkloadDriver, CommittableDriver, LoggingDriver {
  readonly name = 'docker' as const;
  private cgroups: Promise<CgroupReader> | undefined;
  /** Per workload, so two starts of one workload never race each other in this process. */
  private readonly workloadQueues = new Map<string, Promise<unknown>>();
  private readonly ownership: TaskOwnershipStore;
  /** Containers already reported as impostors, so each is logged once. */
  private readonly noticedForeign = new Set<string>();
  private networksReaped = false;

  constructor(
    private readonly engine: DockerEngine,
    private readonly options: DockerDriverOptions,
  ) {
    if (options.cgroups) this.cgroups = Promise.resolve(options.cgroups);
    this.ownership = options.ownership ?? new InMemoryTaskOwnershipStore(true);
  }

  async fingerprint(): Promise<DriverFingerprint> {
    try {
      await this.engine.ping();
      const info = await this.engine.info();
      const images = await this.engine.listImageTags();
      const overrides = this.options.capacity ?? {};
      return {
        driver: 'docker',
        healthy: true,
        detail: `docker ${info.serverVersion}, cgroup v${info.cgroupVersion} (${info.cgroupDriver}), ${info.ncpu} CPUs, ${info.usernsRemap ? 'userns-remap' : 'WARNING no userns-remap: root in a container is root on the host'}`,
        capacity: {
          cpuMillis: overrides.cpuMillis ?? info.ncpu * 1000,
          memoryMiB: overrides.memoryMiB ?? Math.floor(info.memTotalBytes / MiB),
          pids: overrides.pids ?? (await this.readPidMax()),
        },
        images: [...new Set(images)].sort(),
      };
    } catch (error) {
      return {
        driver: 'docker',
        healthy: false,
        detail: `docker engine unusable: ${error instanceof Error ? error.message : String(error)}`,
        capacity: { cpuMillis: 0, memoryMiB: 0, pids: 0 },
        images: [],
      };
    }
  }

  async start(spec: TaskSpec): Promise<TaskStatus> {
    validateSpec(spec);
    return this.serialized(spec.workloadId, () => this.guard(() => this.startSerialized(spec)));
  }

  async restart(handleId: string, generation: number): Promise<TaskStatus> {
    assertGeneration(generation);
    const found = await this.guard(() => this.requireTask(handleId));
    const workloadId = found.labels[LABELS.workload]!;
    return this.serialized(workloadId, () =>
      this.guard(async () => {
        const record = await this.requireTask(handleId);
        const current = this.generationOf(record);
        if (generation < current) {
          throw new DriverError('stale_generation', `task ${handleId} already started for generation ${current}, not ${generation}`);
        }
        if (isLive(record) || (generation === current && record.status !== 'created')) {
          // Alive already, or this generation already ran: only remember the newer generation.
          if (generation > current) await this.options.stateStore.set(record.id, generation);
          return this.statusOf(record);
        }
        await this.engine.startContainer(record.id);
        // Recorded after the start: if the start fails, a retry still sees an older generation.
        if (generation > current) await this.options.stateStore.set(record.id, generation);
        return this.statusOf(await this.requireTask(record.id));
      }),
    );
  }

  async recover(nodeId: string): Promise<TaskStatus[]> {
    assertId('nodeId', nodeId);
    return this.guard(async () => {
      // The labels only narrow the search; ownership is decided by the record.
      const recorded = this.ownership.handles();
      const ids = await this.engine.listContainerIds([`${LABELS.managed}=true`, `${LABELS.node}=${nodeId}`]);
      const statuses: TaskStatus[] = [];
      for (const id of ids) {
        const record = await this.engine.inspectContainer(id);
        // Removed between the list and the inspect: not a task any more.
        if (!record || !isManaged(record)) continue;
        if (await this.ownedTask(record)) statuses.push(this.statusOf(record));
        else this.noticeForeign(record);
      }
      // Every container the older agent left is recorded now: from here on only the record counts.
      await this.ownership.finishMigration();
      // Records of containers removed behind our back (recorded before the list, gone now).
      const listed = new Set(ids);
      for (const id of recorded) {
        if (!listed.has(id) && (await this.engine.inspectContainer(id)) === null) await this.ownership.forget(id);
      }
      if (!this.networksReaped) {
        this.networksReaped = true;
        await this.reapEmptyNetworks();
      }
      return statuses;
    });
  }

  wait(handleId: string): Promise<TaskStatus> {
    return this.guard(async () => {
      const record = await this.requireTask(handleId);
      await this.engine.waitContainer(record.id);
      return this.statusOf(await this.requireTask(record.id));
    });
  }

  async stop(handleId: string, timeoutSeconds: number): Promise<void> {
    if (!Number.isSafeInteger(timeoutSeconds) || timeoutSeconds < 0) {
      throw new DriverError('invalid_spec', `stop timeout must be a non-negative integer, got ${timeoutSeconds}`);
    }
    return this.guard(async () => {
      const record = await this.requireTask(handleId);
      await this.engine.stopContainer(record.id, timeoutSeconds);
    });
  }

  destroy(handleId: string): Promise<void> {
    return this.guard(async () => {
      const record = await this.findTask(handleId);
      if (record) await this.engine.removeContainer(record.id);
      await this.options.stateStore.delete(record?.id ?? handleId);
      await this.ownership.forget(record?.id ?? handleId);
      const tenantId = record?.labels[LABELS.tenant];
      if (tenantId) await this.releaseTenantNetwork(tenantId);
    });
  }

  inspect(handleId: string): Promise<TaskStatus | null> {
    return this.guard(async () => {
      const record = await this.findTask(handleId);
      return record ? this.statusOf(record) : null;
    });
  }

  stats(handleId: string): Promise<TaskStats> {
    return this.guard(async () => {
      const record = await this.requireTask(handleId);
      if (record.status !== 'running' || record.pid <= 0) {
        throw new DriverError('task_not_running', `task ${handleId} is ${record.status}: it has no process to measure`);
      }
      const cgroups = await this.cgroupReader();
      try {
        const snapshot = await cgroups.readForPid(record.pid);
        return {
          cpuUsageNs: snapshot.cpu.usageNs,
          memoryBytes: snapshot.memory.usageBytes,
          memoryPeakBytes: snapshot.memory.peakBytes,
          pids: snapshot.pids.current,
          limits: {
            cpuQuotaUs: snapshot.cpu.quotaUs,
            cpuPeriodUs: snapshot.cpu.periodUs,
            memoryBytes: snapshot.memory.limitBytes,
            pidsMax: snapshot.pids.max,
          },
        };
      } catch (error) {
        if (error instanceof CgroupError && error.code === 'not_found') {
          throw new DriverError('task_not_running', `task ${handleId} exited while being measured`, { cause: error });
        }
        throw new DriverError('driver_failure', `cannot read the cgroups of task ${handleId}: ${String(error)}`, { cause: error });
      }
    });
  }

  /**
   * Saves the workload's container (its writable layer on top of the image) as `spec.image`
   * and pushes it with the short-lived push token. Only this node's container of that tenant.
   */
  async commit(spec: CommitSpec): Promise<{ image: string; digest: string }> {
    assertId('workloadId', spec.workloadId);
    assertId('tenantId', spec.tenantId);
    const target = splitReference(spec.image);
    if (!target || target.registry !== spec.pushAuth.registry) {
      throw new DriverError('invalid_spec', `${spec.image} is not a tagged reference in registry ${spec.pushAuth.registry}`);
    }
    return this.guard(async () => {
      const record = await this.engine.inspectContainer(containerName(spec.nodeId, spec.workloadId));
      if (!record || !(await this.ownedTask(record)) || record.labels[LABELS.tenant] !== spec.tenantId || record.labels[LABELS.node] !== spec.nodeId) {
        throw new DriverError('task_not_found', `workload ${spec.workloadId} has no container on this node`);
      }
      await this.engine.commitContainer(record.id, target.repository, target.tag);
      try {
        const digest = await this.engine.pushImage(target.repository, target.tag, { serverAddress: spec.pushAuth.registry, registryToken: spec.pushAuth.token });
        return { image: spec.image, digest };
      } catch (error) {
        if (error instanceof EngineError && error.kind === 'unavailable') throw error;
        throw pushError(error);
      }
    });
  }

  /**
   * What the workload's container wrote, in chunks of at most `maxBytes`. Only this node's
   * container of that workload and tenant, and only one this agent created: a container that
   * merely carries our labels (or another tenant's) reads as not found.
   */
  async logs(spec: LogsSpec): Promise<TaskLogs> {
    assertId('workloadId', spec.workloadId);
    assertId('tenantId', spec.tenantId);
    if (!Number.isSafeInteger(spec.maxBytes) || spec.maxBytes < 1) throw new DriverError('invalid_spec', `maxBytes must be a positive integer, got ${spec.maxBytes}`);
    return this.guard(async () => {
      const record = await this.engine.inspectContainer(containerName(spec.nodeId, spec.workloadId));
      if (!record || !(await this.ownedTask(record)) || record.labels[LABELS.tenant] !== spec.tenantId || record.labels[LABELS.node] !== spec.nodeId) {
        throw new DriverError('task_not_found', `workload ${spec.workloadId} has no container on this node`);
      }
      const cursor = spec.cursor;
      const all = await this.engine.containerLogs(record.id, cursor ? { sinceNs: cursor.sinceNs } : spec.tail !== undefined ? { tail: spec.tail } : {});
      // The engine's `since` is inclusive: drop the entries of the cursor's instant already read.
      let start = 0;
      while (cursor && start < cursor.skip && start < all.length && all[start]!.timeNs === cursor.sinceNs) start += 1;
      const entries: TaskLogs['entries'] = [];
      let bytes = 0;
      let index = start;
      for (; index < all.length; index += 1) {
        const entry = all[index]!;
        if (entries.length > 0 && bytes + entry.data.length > spec.maxBytes) break;
        // One entry larger than a whole chunk (the engine splits lines at 16 KiB, so never in practice) is cut.
        const data = entry.data.length > spec.maxBytes ? entry.data.subarray(0, spec.maxBytes) : entry.data;
        entries.push({ stream: entry.stream, time: entry.time, data });
        bytes += data.length;
      }
      let next = cursor ?? null;
      if (index > start) {
        const last = all[index - 1]!;
        let same = 0;
        for (let at = index - 1; at >= start && all[at]!.timeNs === last.timeNs; at -= 1) same += 1;
        next = { sinceNs: last.timeNs, skip: cursor && cursor.sinceNs === last.timeNs ? start + same : same };
      }
      return { entries, cursor: next, more: index < all.length, running: isLive(record) };
    });
  }

  private async startSerialized(spec: TaskSpec): Promise<TaskStatus> {
    let record = await this.engine.inspectContainer(containerName(spec.nodeId, spec.workloadId));
    if (record) {
      if (!(await this.ownedTask(record))) {
        this.noticeForeign(record);
        throw new DriverError('driver_failure', `container ${record.name} exists but was not created by this agent`);
      }
      this.assertOwnedBy(record, spec);
      const current = this.generationOf(record);
      if (spec.generation < current) {
        throw new DriverError('stale_generation', `workload ${spec.workloadId} already started for generation ${current}, not ${spec.generation}`);
      }
      if (spec.generation === current && record.status !== 'created') return this.statusOf(record);
      if (spec.generation > current && isLive(record)) {
        await this.options.stateStore.set(record.id, spec.generation);
        return this.statusOf(record);
      }
      if (spec.generation > current) {
        // A stopped task from an older start: run the new spec in a fresh container.
        await this.engine.removeContainer(record.id);
        await this.options.stateStore.delete(record.id);
        await this.ownership.forget(record.id);
        record = null;
      }
    }
    const id = record ? record.id : await this.createContainer(spec);
    try {
      await this.engine.startContainer(id);
    } catch (error) {
      if (!isMissingNetwork(error)) throw error;
      // Another agent on this engine removed the tenant's (then empty) network between our
      // create and start: bring it back and start once more.
      await this.serialized(networkQueue(spec.tenantId), () => this.ensureTenantNetwork(spec.tenantId));
      await this.engine.startContainer(id);
    }
    return this.statusOf(await this.requireTask(id));
  }

  private async createContainer(spec: TaskSpec): Promise<string> {
    if (!(await this.engine.imageExists(spec.image))) await this.pull(spec);
    const task: OwnedTask = { workloadId: spec.workloadId, tenantId: spec.tenantId, name: containerName(spec.nodeId, spec.workloadId) };
    // Recorded before the engine call, so a crash right after it still leaves the container ours.
    await this.ownership.intend(task);
    // Network and container under the tenant's network lock: a release of the same network
    // waits until the container exists (and so keeps the network).
    const id = await this.serialized(networkQueue(spec.tenantId), async () => {
      const network = await this.ensureTenantNetwork(spec.tenantId);
      try {
        return await this.engine.createContainer(toContainerCreate(spec, network));
      } catch (error) {
        if (!isMissingNetwork(error)) throw error;
        // Removed by another agent on this engine since we looked: create it again, once.
        await this.ensureTenantNetwork(spec.tenantId);
        return await this.engine.createContainer(toContainerCreate(spec, network));
      }
    }).catch(async (error: unknown) => {
      if (!(error instanceof EngineError && error.kind === 'conflict')) {
        await this.ownership.abandon(task.name);
        throw error;
      }
      // Another agent process created it between our inspect and create: adopt it if it is
      // the same start, otherwise let the caller retry against what is there now.
      const winner = await this.engine.inspectContainer(task.name);
      if (winner && isManaged(winner) && (await this.ownedTask(winner)) && this.generationOf(winner) === spec.generation) {
        this.assertOwnedBy(winner, spec);
        return winner.id;
      }
      throw new DriverError('driver_failure', `container ${task.name} was created concurrently`, { cause: error });
    });
    await this.ownership.record(id, task);
    return id;
  }

  /**
   * Whether this agent created the container, by its ownership record: by id, by a pending
   * create of exactly this name, or (once, right after the upgrade) by the name the agent
   * would have chosen for the workload its labels name. Labels must still agree with the
   * record, so a recorded id never passes for another workload.
   */
  private async ownedTask(record: ContainerRecord): Promise<OwnedTask | null> {
    const labels = record.labels;
    const agrees = (task: OwnedTask) =>
      isManaged(record) && task.workloadId === labels[LABELS.workload] && task.tenantId === labels[LABELS.tenant] && task.name === record.name;
    const owned = this.ownership.owner(record.id);
    if (owned) return agrees(owned) ? owned : null;
    const pending = this.ownership.pending(record.name);
    if (pending && agrees(pending)) {
      await this.ownership.record(record.id, pending);
      return pending;
    }
    const nodeId = labels[LABELS.node];
    const workloadId = labels[LABELS.workload];
    const tenantId = labels[LABELS.tenant];
    if (this.ownership.legacy && isManaged(record) && nodeId && workloadId && tenantId && record.name === containerName(nodeId, workloadId)) {
      const adopted: OwnedTask = { workloadId, tenantId, name: record.name };
      await this.ownership.record(record.id, adopted);
      this.options.logger?.info({ handleId: record.id, workloadId, tenantId }, 'adopted container created before ownership records');
      return adopted;
    }
    return null;
  }

  private noticeForeign(record: ContainerRecord): void {
    if (this.noticedForeign.has(record.id)) return;
    this.noticedForeign.add(record.id);
    this.options.logger?.warn(
      { handleId: record.id, name: record.name, claimedWorkloadId: record.labels[LABELS.workload], claimedTenantId: record.labels[LABELS.tenant] },
      'container carries io.gureum labels but was not created by this agent: left alone',
    );
  }

  /** Removes the tenant's network once none of its containers (running or not) is left on it. */
  private releaseTenantNetwork(tenantId: string): Promise<void> {
    const name = tenantNetworkName(tenantId);
    return this.serialized(networkQueue(tenantId), async () => {
      const network = await this.engine.inspectNetwork(name);
      if (!network || !this.isOurNetwork(network.labels, tenantId)) return;
      if ((await this.engine.listNetworkContainerIds(name)).length > 0) return;
      try {
        await this.engine.removeNetwork(name);
        this.options.logger?.info({ tenantId, network: name }, 'removed tenant network: its last container left');
      } catch (error) {
        // A container of another agent on this engine joined it meanwhile: it stays.
        if (!(error instanceof EngineError && error.kind === 'conflict')) throw error;
      }
    });
  }

  /** At start: tenant networks an earlier agent left without containers (before this release existed). */
  private async reapEmptyNetworks(): Promise<void> {
    for (const network of await this.engine.listNetworks([`${LABELS.managed}=true`])) {
      const tenantId = network.labels[LABELS.tenant];
      if (tenantId && network.name === tenantNetworkName(tenantId)) await this.releaseTenantNetwork(tenantId);
    }
  }

  private isOurNetwork(labels: Record<string, string>, tenantId: string): boolean {
    return labels[LABELS.managed] === 'true' && labels[LABELS.tenant] === tenantId;
  }

  /**
   * Pulls a missing image that names a registry, with the assignment's short-lived token when
   * there is one; a bare name (`gureum/busybox`) has nowhere to come from.
   */
  private async pull(spec: TaskSpec): Promise<void> {
    const registry = registryOf(spec.image);
    if (registry === null) throw new DriverError('image_not_found', `image ${spec.image} is not on this node`);
    if (spec.pullAuth && spec.pullAuth.registry !== registry) {
      throw new DriverError('image_pull_failed', `image pull failed: the pull token is for ${spec.pullAuth.registry}, not ${registry}`);
    }
    try {
      await this.engine.pullImage(spec.image, spec.pullAuth ? { serverAddress: spec.pullAuth.registry, registryToken: spec.pullAuth.token } : null);
    } catch (error) {
      if (error instanceof EngineError && error.kind === 'unavailable') throw error;
      const reason = error instanceof Error ? error.message.replace(/^docker pull \S+: /, '') : String(error);
      throw new DriverError('image_pull_failed', `image pull failed: ${reason}`, { cause: error });
    }
  }

  /** Only under the tenant's network queue (see createContainer). */
  private async ensureTenantNetwork(tenantId: string): Promise<string> {
    const name = tenantNetworkName(tenantId);
    const existing = await this.engine.inspectNetwork(name);
    if (existing) {
      if (!this.isOurNetwork(existing.labels, tenantId)) {
        throw new DriverError('driver_failure', `network ${name} exists but is not Gureum's network for tenant ${tenantId}`);
      }
      return name;
    }
    try {
      await this.engine.createNetwork({
        Name: name,
        Driver: 'bridge',
        // Without it Docker happily creates a second network with the same name.
        CheckDuplicate: true,
        Labels: { [LABELS.managed]: 'true', [LABELS.tenant]: tenantId },
      });
    } catch (error) {
      // Created by another process since our inspect: fine, it is the same network.
      if (!(error instanceof EngineError && error.kind === 'conflict')) throw error;
    }
    return name;
  }

  private assertOwnedBy(record: ContainerRecord, spec: TaskSpec): void {
    const labels = record.labels;
    if (!isManaged(record) || labels[LABELS.workload] !== spec.workloadId || labels[LABELS.tenant] !== spec.tenantId) {
      throw new DriverError('driver_failure', `container ${record.name} exists but is not workload ${spec.workloadId} of tenant ${spec.tenantId}`);
    }
    if (labels[LABELS.node] !== spec.nodeId) {
      throw new DriverError('driver_failure', `container ${record.name} belongs to node ${labels[LABELS.node]}, not ${spec.nodeId}`);
    }
  }

  private generationOf(record: ContainerRecord): number {
    return this.options.stateStore.get(record.id) ?? labelGeneration(record);
  }

  private statusOf(record: ContainerRecord): TaskStatus {
    return toTaskStatus(record, this.generationOf(record));
  }

  private async findTask(handleId: string): Promise<ContainerRecord | null> {
    if (handleId === '') return null;
    const record = await this.engine.inspectContainer(handleId);
    return record && isManaged(record) && (await this.ownedTask(record)) ? record : null;
  }

  private async requireTask(handleId: string): Promise<ContainerRecord> {
    const record = await this.findTask(handleId);
    if (!record) throw new DriverError('task_not_found', `no task ${handleId} on this node`);
    return record;
  }

  private cgroupReader(): Promise<CgroupReader> {
    this.cgroups ??= createCgroupManager().catch((error: unknown) => {
      this.cgroups = undefined;
      throw error;
    });
    return this.cgroups;
  }

  private async readPidMax(): Promise<number> {
    const path = this.options.pidMaxPath ?? '/proc/sys/kernel/pid_max';
    const pidMax = Number((await readFile(path, 'utf8')).trim());
    if (!Number.isSafeInteger(pidMax) || pidMax <= 0) throw new Error(`${path} holds no pid count`);
    return pidMax;
  }

  private serialized<T>(workloadId: string, operation: () => Promise<T>): Promise<T> {
    const previous = this.workloadQueues.get(workloadId) ?? Promise.resolve();
    const result = previous.then(operation, operation);
    const settled = result.catch(() => undefined);
    this.workloadQueues.set(workloadId, settled);
    void settled.then(() => {
      if (this.workloadQueues.get(workloadId) === settled) this.workloadQueues.delete(workloadId);
    });
    return result;
  }

  /** Engine errors leave the driver as DriverErrors; DriverErrors pass through unchanged. */
  private async guard<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof DriverError) throw error;
      if (error instanceof EngineError) {
        const code = error.kind === 'unavailable' ? 'engine_unavailable' : error.kind === 'not_found' ? 'task_not_found' : 'driver_failure';
        throw new DriverError(code, error.message, { cause: error });
      }
      throw new DriverError('driver_failure', String(error), { cause: error });
    }
  }
}

/** `registry/path:tag` → its parts; null without a registry or a tag (digests are not pushed to). */
export function splitReference(image: string): { registry: string; repository: string; tag: string } | null {
  const registry = registryOf(image);
  const lastSlash = image.lastIndexOf('/');
  const colon = image.indexOf(':', lastSlash + 1);
  if (registry === null || image.includes('@') || colon < 0) return null;
  return { registry, repository: image.slice(0, colon), tag: image.slice(colon + 1) };
}

/** A failed push as the tenant should read it; the registry's storage-quota refusal is its own code. */
export function pushError(error: unknown): DriverError {
  const reason = error instanceof Error ? error.message.replace(/^docker push \S+: /, '') : String(error);
  if (/quota/i.test(reason)) return new DriverError('quota_exceeded', `image push refused: ${reason}`, { cause: error });
  return new DriverError('image_push_failed', `image push failed: ${reason}`, { cause: error });
}

/** The registry an image reference names (Docker's rule: a first component with `.` or `:`, or `localhost`). */
function registryOf(image: string): string | null {
  const slash = image.indexOf('/');
  if (slash < 0) return null;
  const first = image.slice(0, slash);
  return first.includes('.') || first.includes(':') || first === 'localhost' ? first : null;
}

/** Queue key of a tenant's network; workload ids (the other keys) are uuids, so never equal. */
function networkQueue(tenantId: string): string {
  return `network:${tenantId}`;
}

function isMissingNetwork(error: unknown): boolean {
  return error instanceof EngineError && error.kind === 'not_found' && /network\b.*not found/i.test(error.message);
}

function isLive(record: ContainerRecord): boolean {
  return record.status === 'running' || record.status === 'paused' || record.status === 'restarting';
}
