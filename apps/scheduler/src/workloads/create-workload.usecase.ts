import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { ErrorCode, GureumError, type ValidRequestOf, type WorkloadSpec, type WorkloadView } from '@gureum/contracts';
import type { Logger } from '@gureum/runtime';
import { DataSource, type EntityManager } from 'typeorm';
import { AfterCommit } from '../common/after-commit';
import { assertMayModify, assertTenantNotSuspended } from '../common/caller-access';
import { LOGGER, SCHEDULER_SETTINGS, type SchedulerSettings } from '../common/tokens';
import { inTransaction, queryRows, SCHEMA } from '../database/sql';
import { claimBestHost, loadHostSnapshots, placementRequestOf } from '../placement/host-claims';
import { BatchRanker } from '../placement/batch-ranking';
import { HostIndex } from '../placement/host-index';
import { preemptFor } from '../placement/preempt-for';
import { covers, describeResources, largestHost, maxUnit, normalizeImageRef } from '../placement/placement';
import { quotaDeltaOf } from '../quotas/quota';
import { chargeQuota } from '../quotas/quota-store';
import { isPulledImage } from '../images/image-reference';
import { RegistryTokens } from '../images/registry-tokens';
import { Batcher, DEFAULT_CREATE_BATCH_GATHER_MS, MAX_CREATE_BATCH } from './create-batcher';
import { runCreateBatch, type BatchDependencies, type QueuedCreate } from './create-workload-batch';
import { changeWorkload } from './workload-store';
import { toWorkloadView } from './workload-view';
import { workloadFromRow, type WorkloadRow } from './workload-row';
import { WorkloadEntity } from './workload.entity';

export type CreateWorkloadCommand = ValidRequestOf<'scheduler.cmd.workload.create.v1'>;

interface FleetCheck {
  has_image: boolean;
  fits: boolean;
  suspended: boolean;
}

type Created = { kind: 'created'; workload: WorkloadEntity; preempted: string[] } | { kind: 'replayed'; workload: WorkloadEntity };

@Injectable()
export class CreateWorkloadUseCase {
  private readonly batcher: Batcher<QueuedCreate>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly afterCommit: AfterCommit,
    @Inject(SCHEDULER_SETTINGS) private readonly settings: SchedulerSettings,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly registryTokens: RegistryTokens,
    private readonly hostIndex: HostIndex,
  ) {
    const deps: BatchDependencies = {
      dataSource,
      afterCommit,
      settings,
      logger,
      registryTokens,
      hostIndex,
      // One per replica: rankings are reused across batches (see BatchRanker).
      ranker: new BatchRanker(hostIndex, settings.placement, settings.hostIndexRefreshMs ?? 500),
      single: (item) => this.executeAlone(item.command as CreateWorkloadCommand).then(item.resolve, item.reject),
      replay: (existing, item) => toWorkloadView(assertSameSpec(existing, item.command.spec, item.command.idempotencyKey!)),
      retry: (item) => this.batcher.retry([item]),
    };
    this.batcher = new Batcher<QueuedCreate>(
      (batch) => runCreateBatch(batch, deps),
      MAX_CREATE_BATCH,
      (item) => (item.command.idempotencyKey === undefined ? null : `${item.command.caller.tenantId}\0${item.command.idempotencyKey}`),
      (error, batch) => {
        // A bug, not a refusal: never re-run members that may already be written and answered.
        logger.error({ err: error, size: batch.length }, 'create batch failed unexpectedly');
        for (const item of batch) item.reject(error);
      },
      settings.createBatchGatherMs ?? DEFAULT_CREATE_BATCH_GATHER_MS,
    );
  }

  /**
   * Creates without affinity groups ride in a batch (group commit, see create-workload-batch.ts)
   * when the replica ranks on its host index; the rest, and whatever a batch cannot settle,
   * go alone.
   */
  execute(command: CreateWorkloadCommand): Promise<WorkloadView> {
    assertMayModify(command.caller);
    const hints = command.spec.placement;
    if (!this.hostIndex.enabled || hints?.affinityGroup || hints?.antiAffinityGroup) return this.executeAlone(command);
    return new Promise<WorkloadView>((resolve, reject) => this.batcher.add({ command, resolve, reject, attempt: 1 }));
  }

  /** One create in its own transaction: groups, preemption, pending, and every fallback of a batch. */
  async executeAlone(command: CreateWorkloadCommand): Promise<WorkloadView> {
    const { caller, spec, idempotencyKey } = command;
    assertMayModify(caller);

    // One round trip answers three questions: a retry of a request that already succeeded
    // (answered with its result even if the fleet changed since, the image may be gone now:
    // that is what the key promises), whether the tenant is suspended (the api refuses a
    // suspended tenant's writes before they get here, this is the second line), and whether
    // any host could run the spec at all. Outside the placement transaction, kept short.
    const { existing, fleet } = await this.precheck(spec, caller.tenantId, idempotencyKey ?? null);
    if (existing) return toWorkloadView(assertSameSpec(existing, spec, idempotencyKey!));
    await this.assertFleetCanRun(spec, caller.tenantId, fleet);
    // An image in our registry: the tenant must be allowed to pull it (its own namespace or a
    // public repository), checked now so a refusal is an answer, not a workload that fails later.
    await this.registryTokens.pullAuth(caller.tenantId, spec.image);

    const created = await inTransaction(this.dataSource, async (manager): Promise<Created> => {
      const inserted = await insertPending(manager, caller.tenantId, spec, idempotencyKey ?? null);
      if (!inserted) {
        // A concurrent request with the same key won the insert; ON CONFLICT waited for it.
        const winner = await manager.findOneByOrFail(WorkloadEntity, { tenantId: caller.tenantId, idempotencyKey: idempotencyKey! });
        return { kind: 'replayed', workload: winner };
      }
      const claim = await claimBestHost(manager, inserted, this.settings.placement, this.hostIndex);
      const preempted = claim.placed ? null : await preemptFor(manager, inserted, this.settings.placement);
      const hostId = claim.placed ? claim.hostId : (preempted?.hostId ?? null);
      // Its history opens with where the create leaves it: `null → scheduled`, or `null → pending`.
      const workload = hostId
        ? await changeWorkload(manager, inserted, { state: 'scheduled', hostId, reason: null }, { opening: true })
        : await changeWorkload(manager, inserted, { reason: claim.placed ? null : claim.reason }, { opening: true });
      // Last, so the tenant's quota row is locked only from here to commit. Over quota, this
      // throws and the whole transaction — workload, claim, events — rolls back: a pending
      // workload holds quota too, so nothing is charged later.
      await chargeQuota(manager, caller.tenantId, quotaDeltaOf(inserted), this.settings.defaultQuotas);
      return { kind: 'created', workload, preempted: preempted?.victims.map((victim) => victim.id) ?? [] };
    });

    if (created.kind === 'replayed') return toWorkloadView(assertSameSpec(created.workload, spec, idempotencyKey!));
    const { workload, preempted } = created;
    // Preempted workloads are pending again: the placement loop looks for room for them.
    this.afterCommit.run({ nodesToNudge: workload.hostId ? [workload.hostId] : [], nudgeReason: `workload ${workload.id} scheduled`, capacityFreed: preempted.length > 0 });
    if (preempted.length > 0) this.logger.info({ tenantId: workload.tenantId, workloadId: workload.id, hostId: workload.hostId, preempted }, 'workloads preempted');
    this.logger.debug(
      { tenantId: workload.tenantId, workloadId: workload.id, state: workload.state, hostId: workload.hostId, reason: workload.reason, requestId: caller.requestId },
      'workload created',
    );
    return toWorkloadView(workload);
  }

  private async precheck(spec: WorkloadSpec, tenantId: string, idempotencyKey: string | null): Promise<{ existing: WorkloadEntity | null; fleet: FleetCheck }> {
    const request = this.fleetRequestOf(spec);
    const { reserved } = this.settings.placement;
    // The EXISTS are index-backed; the workload by its idempotency key is a unique-index lookup.
    const [row] = await queryRows<FleetCheck & Partial<WorkloadRow>>(
      this.dataSource.manager,
      `SELECT f.*, w.* FROM (
         SELECT EXISTS (SELECT 1 FROM "${SCHEMA}"."hosts" WHERE "images" @> ARRAY[$1::text]) AS "has_image",
                EXISTS (SELECT 1 FROM "${SCHEMA}"."hosts" WHERE "capacity_cpu_millis" - $2 >= $5 AND "capacity_memory_mib" - $3 >= $6 AND "capacity_pids" - $4 >= $7) AS "fits",
                EXISTS (SELECT 1 FROM "${SCHEMA}"."suspended_tenants" WHERE "tenant_id" = $8) AS "suspended"
       ) f LEFT JOIN "${SCHEMA}"."workloads" w ON w."tenant_id" = $8 AND w."idempotency_key" = $9::text`,
      [normalizeImageRef(request.image), reserved.cpuMillis, reserved.memoryMiB, reserved.pids, request.resources.cpuMillis, request.resources.memoryMiB, request.resources.pids, tenantId, idempotencyKey],
    );
    const fleet = { has_image: row?.has_image ?? false, fits: row?.fits ?? false, suspended: row?.suspended ?? false };
    return { existing: row?.id ? workloadFromRow(row as WorkloadRow) : null, fleet };
  }

  private fleetRequestOf(spec: WorkloadSpec) {
    return placementRequestOf({ tenantId: '00000000-0000-0000-0000-000000000000', kind: spec.kind, image: spec.image, placement: null, ...spec.resources });
  }

  /** Refuses what no host could ever run, instead of leaving it pending forever. */
  private async assertFleetCanRun(spec: WorkloadSpec, tenantId: string, fleet: FleetCheck): Promise<void> {
    const request = this.fleetRequestOf(spec);
    if (fleet.suspended) await assertTenantNotSuspended(this.dataSource.manager, tenantId);
    if (fleet.has_image && fleet.fits) return;
    const { hosts } = await loadHostSnapshots(this.dataSource.manager, request, this.settings.placement, { candidatesOnly: false });
    if (!isPulledImage(request.image) && !hosts.some((host) => host.images.length > 0)) {
      if (spec.kind === 'vm') {
        throw new GureumError(ErrorCode.ImageUnknown, `VM template ${spec.image} is not available on any host`, { image: spec.image, kind: 'vm' });
      }
      throw new GureumError(ErrorCode.ImageUnknown, `image ${spec.image} is not present on any host`, { image: spec.image });
    }
    if (!hosts.some((host) => covers(maxUnit(host.capacity, this.settings.placement), request.resources))) {
      const largest = largestHost(hosts);
      throw new GureumError(
        ErrorCode.ResourcesExceedHost,
        `${describeResources(request.resources)} does not fit on any host; the largest is ${largest?.id} with ${largest ? describeResources(largest.capacity) : 'nothing'}`,
        { requested: request.resources, largestHost: largest ? { id: largest.id, capacity: largest.capacity } : null },
      );
    }
  }
}

/** Inserts the workload as `pending`; null when another request already used the idempotency key. */
async function insertPending(manager: EntityManager, tenantId: string, spec: WorkloadSpec, idempotencyKey: string | null): Promise<WorkloadEntity | null> {
  const [row] = await queryRows<WorkloadRow>(
    manager,
    `INSERT INTO "${SCHEMA}"."workloads"
       ("id", "tenant_id", "name", "kind", "image", "command", "env", "cpu_millis", "memory_mib", "pids",
        "state", "desired_state", "generation", "idempotency_key",
        "placement", "affinity_group", "anti_affinity_group", "priority", "preemptible", "vm", "read_only_root_filesystem")
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', 'running', 0, $11, $12, $13, $14, $15, $16, $17, $18)
     ON CONFLICT ON CONSTRAINT "workloads_tenant_idempotency_key" DO NOTHING
     RETURNING *`,
    [
      randomUUID(),
      tenantId,
      spec.name,
      spec.kind,
      spec.image,
      spec.kind === 'container' && spec.command !== undefined ? JSON.stringify(spec.command) : null,
      spec.kind === 'container' && spec.env !== undefined ? JSON.stringify(spec.env) : null,
      spec.resources.cpuMillis,
      spec.resources.memoryMiB,
      spec.resources.pids,
      idempotencyKey,
      spec.placement === undefined ? null : JSON.stringify(spec.placement),
      spec.placement?.affinityGroup ?? null,
      spec.placement?.antiAffinityGroup ?? null,
      spec.priority ?? 0,
      spec.preemptible ?? false,
      spec.kind === 'vm' ? JSON.stringify(spec.vm) : null,
      spec.kind === 'container' && spec.readOnlyRootFilesystem === true,
    ],
  );
  return row ? workloadFromRow(row) : null;
}

function assertSameSpec(existing: WorkloadEntity, spec: WorkloadSpec, idempotencyKey: string): WorkloadEntity {
  // The key's workload is gone (or going): answering with it would tell the client that its
  // create succeeded with a workload it can no longer use. A retry after a delete needs a new key.
  if (existing.state === 'deleted' || existing.desiredState === 'deleted') {
    throw new GureumError(ErrorCode.Conflict, `idempotency key ${idempotencyKey} belongs to workload ${existing.id}, which has been deleted; use a new key to create another`, {
      idempotencyKey,
      workloadId: existing.id,
      state: existing.state,
    });
  }
  const common = { ...spec, ...spec.resources, placement: spec.placement ?? null, priority: spec.priority ?? 0, preemptible: spec.preemptible ?? false, readOnlyRootFilesystem: spec.kind === 'container' && spec.readOnlyRootFilesystem === true };
  const incoming: SpecFields =
    spec.kind === 'container'
      ? { ...common, command: spec.command ?? null, env: spec.env ?? null, vm: null }
      : { ...common, command: null, env: null, vm: spec.vm };
  if (canonicalSpec(existing) !== canonicalSpec(incoming)) {
    throw new GureumError(ErrorCode.Conflict, `idempotency key ${idempotencyKey} was already used for a different workload spec`, {
      idempotencyKey,
      workloadId: existing.id,
    });
  }
  return existing;
}

type SpecFields = Pick<WorkloadEntity, 'name' | 'kind' | 'image' | 'command' | 'env' | 'cpuMillis' | 'memoryMiB' | 'pids' | 'placement' | 'priority' | 'preemptible' | 'readOnlyRootFilesystem' | 'vm'>;

/** Key order of `env` and `placement` is not meaningful (jsonb does not keep it), so it is sorted. */
function canonicalSpec(spec: SpecFields): string {
  return JSON.stringify([
    spec.name,
    spec.kind,
    spec.image,
    spec.command,
    sortedKeys(spec.env),
    spec.cpuMillis,
    spec.memoryMiB,
    spec.pids,
    sortedKeys(spec.placement),
    spec.priority,
    spec.preemptible,
    spec.vm === null ? null : [spec.vm.diskGiB, spec.vm.kernelArgs ?? []],
    spec.readOnlyRootFilesystem,
  ]);
}

function sortedKeys<T extends object>(value: T | null): T | null {
  return value === null ? null : (Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) as T);
}
