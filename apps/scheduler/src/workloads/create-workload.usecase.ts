import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { ErrorCode, GureumError, type ValidRequestOf, type WorkloadSpec, type WorkloadView } from '@gureum/contracts';
import type { Logger } from '@gureum/runtime';
import { DataSource, type EntityManager } from 'typeorm';
import { AfterCommit } from '../common/after-commit';
import { assertMayModify, assertTenantNotSuspended } from '../common/caller-access';
import { LOGGER } from '../common/tokens';
import { inTransaction, queryRows, SCHEMA } from '../database/sql';
import { claimBestHost, loadHostSnapshots, placementRequestOf } from '../placement/host-claims';
import { covers, describeResources, largestHost } from '../placement/placement';
import { isPulledImage } from '../images/image-reference';
import { RegistryTokens } from '../images/registry-tokens';
import { changeWorkload, recordTransition } from './workload-store';
import { toWorkloadView } from './workload-view';
import { WorkloadEntity } from './workload.entity';

export type CreateWorkloadCommand = ValidRequestOf<'scheduler.cmd.workload.create.v1'>;

type Created = { kind: 'created'; workload: WorkloadEntity } | { kind: 'replayed'; workload: WorkloadEntity };

@Injectable()
export class CreateWorkloadUseCase {
  constructor(
    private readonly dataSource: DataSource,
    private readonly afterCommit: AfterCommit,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly registryTokens: RegistryTokens,
  ) {}

  async execute(command: CreateWorkloadCommand): Promise<WorkloadView> {
    const { caller, spec, idempotencyKey } = command;
    assertMayModify(caller);

    // A retry of a request that already succeeded answers with its result, even if the fleet
    // changed since (the image may be gone now): that is what the key promises.
    if (idempotencyKey !== undefined) {
      const existing = await this.dataSource.manager.findOneBy(WorkloadEntity, { tenantId: caller.tenantId, idempotencyKey });
      if (existing) return toWorkloadView(assertSameSpec(existing, spec, idempotencyKey));
    }
    await this.assertFleetCanRun(spec);
    // An image in our registry: the tenant must be allowed to pull it (its own namespace or a
    // public repository), checked now so a refusal is an answer, not a workload that fails later.
    await this.registryTokens.pullAuth(caller.tenantId, spec.image);
    // Outside the placement transaction, which is kept short; the api refuses a suspended
    // tenant's writes before they get here, this is the second line.
    await assertTenantNotSuspended(this.dataSource.manager, caller.tenantId);

    const created = await inTransaction(this.dataSource, async (manager): Promise<Created> => {
      const inserted = await insertPending(manager, caller.tenantId, spec, idempotencyKey ?? null);
      if (!inserted) {
        // A concurrent request with the same key won the insert; ON CONFLICT waited for it.
        const winner = await manager.findOneByOrFail(WorkloadEntity, { tenantId: caller.tenantId, idempotencyKey: idempotencyKey! });
        return { kind: 'replayed', workload: winner };
      }
      await recordTransition(manager, inserted, null);
      const claim = await claimBestHost(manager, inserted);
      const workload = claim.placed
        ? await changeWorkload(manager, inserted, { state: 'scheduled', hostId: claim.hostId, reason: null })
        : await changeWorkload(manager, inserted, { reason: claim.reason });
      return { kind: 'created', workload };
    });

    if (created.kind === 'replayed') return toWorkloadView(assertSameSpec(created.workload, spec, idempotencyKey!));
    const { workload } = created;
    this.afterCommit.run({ nodesToNudge: workload.hostId ? [workload.hostId] : [], nudgeReason: `workload ${workload.id} scheduled` });
    this.logger.info(
      { tenantId: workload.tenantId, workloadId: workload.id, state: workload.state, hostId: workload.hostId, reason: workload.reason, requestId: caller.requestId },
      'workload created',
    );
    return toWorkloadView(workload);
  }

  /** Refuses what no host could ever run, instead of leaving it pending forever. */
  private async assertFleetCanRun(spec: WorkloadSpec): Promise<void> {
    const request = placementRequestOf({ image: spec.image, ...spec.resources });
    const hosts = await loadHostSnapshots(this.dataSource.manager, spec.image, { readyOnly: false });
    if (!isPulledImage(spec.image) && !hosts.some((host) => host.images.length > 0)) {
      throw new GureumError(ErrorCode.ImageUnknown, `image ${spec.image} is not present on any host`, { image: spec.image });
    }
    if (!hosts.some((host) => covers(host.capacity, request.resources))) {
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
  const [row] = await queryRows<{ id: string }>(
    manager,
    `INSERT INTO "${SCHEMA}"."workloads"
       ("id", "tenant_id", "name", "kind", "image", "command", "env", "cpu_millis", "memory_mib", "pids",
        "state", "desired_state", "generation", "idempotency_key")
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', 'running', 0, $11)
     ON CONFLICT ON CONSTRAINT "workloads_tenant_idempotency_key" DO NOTHING
     RETURNING "id"`,
    [
      randomUUID(),
      tenantId,
      spec.name,
      spec.kind,
      spec.image,
      spec.command === undefined ? null : JSON.stringify(spec.command),
      spec.env === undefined ? null : JSON.stringify(spec.env),
      spec.resources.cpuMillis,
      spec.resources.memoryMiB,
      spec.resources.pids,
      idempotencyKey,
    ],
  );
  return row ? manager.findOneByOrFail(WorkloadEntity, { id: row.id }) : null;
}

function assertSameSpec(existing: WorkloadEntity, spec: WorkloadSpec, idempotencyKey: string): WorkloadEntity {
  if (canonicalSpec(existing) !== canonicalSpec({ ...spec, ...spec.resources, command: spec.command ?? null, env: spec.env ?? null })) {
    throw new GureumError(ErrorCode.Conflict, `idempotency key ${idempotencyKey} was already used for a different workload spec`, {
      idempotencyKey,
      workloadId: existing.id,
    });
  }
  return existing;
}

type SpecFields = Pick<WorkloadEntity, 'name' | 'kind' | 'image' | 'command' | 'env' | 'cpuMillis' | 'memoryMiB' | 'pids'>;

/** Key order of `env` is not meaningful (jsonb does not keep it), so it is sorted. */
function canonicalSpec(spec: SpecFields): string {
  const env = spec.env === null ? null : Object.fromEntries(Object.entries(spec.env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return JSON.stringify([spec.name, spec.kind, spec.image, spec.command, env, spec.cpuMillis, spec.memoryMiB, spec.pids]);
}
