import { Inject, Injectable } from '@nestjs/common';
import { ErrorCode, GureumError, type MigrationMode, type MigrationView, type OperatorCaller } from '@gureum/contracts';
import type { Logger } from '@gureum/runtime';
import { Bus } from '@gureum/messaging';
import { DataSource, type EntityManager } from 'typeorm';
import { AfterCommit } from '../common/after-commit';
import { assertOperator } from '../common/caller-access';
import { LOGGER, SCHEDULER_SETTINGS, type SchedulerSettings } from '../common/tokens';
import { inTransaction, queryRows, SCHEMA } from '../database/sql';
import { HOST_COLUMNS, loadHostSnapshots, placementRequestOf, releaseClaim, toSnapshot, type HostRow } from '../placement/host-claims';
import { describeResources, explainNoPlacement, rankHosts, rejectionOf, type PlacementRequest } from '../placement/placement';
import { assignmentSpecOf } from '../reconciliation/list-assignments.usecase';
import { workloadInWrongState, workloadNotFound } from '../workloads/workload.exception';
import { changeWorkload } from '../workloads/workload-store';
import { toWorkloadView } from '../workloads/workload-view';
import { WorkloadEntity } from '../workloads/workload.entity';

export interface MigrateWorkloadCommand {
  caller: OperatorCaller;
  workloadId: string;
  /** Absent: the best other host with the vm driver, the template and room (bin-packing rank). */
  targetHostId?: string;
  mode: MigrationMode;
}

/** Preparing the destination (QEMU up, listening) and the transfer itself, on a busy machine. */
const PREPARE_TIMEOUT_MS = 60_000;
const TRANSFER_TIMEOUT_MS = 10 * 60_000;

interface Plan {
  workload: WorkloadEntity;
  sourceHostId: string;
  targetHostId: string;
}

/**
 * Moves a running VM to another host, keeping its id. Before anything moves, the target's
 * resources are reserved (a `migration_claims` row, counted in the target host's allocation)
 * and the workload enters `migrating`, in one transaction. Then the destination agent starts
 * QEMU waiting for the VM and the source agent sends it. Success moves the claim and the
 * workload's host to the target; failure (or a refused/cancelled transfer, or an agent not
 * answering) releases the reservation and leaves the VM where it was, `running`.
 *
 * Capacity is checked on the target like a placement; tenant quotas are not touched: the
 * VM's allocation does not change, only its host. Drain calls this use-case per VM.
 */
@Injectable()
export class MigrateWorkloadUseCase {
  constructor(
    private readonly dataSource: DataSource,
    private readonly bus: Bus,
    private readonly afterCommit: AfterCommit,
    @Inject(SCHEDULER_SETTINGS) private readonly settings: SchedulerSettings,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** Workloads this process is migrating now: the crash-recovery sweep leaves them alone. */
  readonly inFlight = new Set<string>();

  async execute(command: MigrateWorkloadCommand): Promise<MigrationView> {
    assertOperator(command.caller);
    const plan = await inTransaction(this.dataSource, (manager) => this.reserve(manager, command));
    this.inFlight.add(plan.workload.id);
    try {
      return await this.transfer(command, plan);
    } finally {
      this.inFlight.delete(plan.workload.id);
    }
  }

  private async transfer(command: MigrateWorkloadCommand, plan: Plan): Promise<MigrationView> {
    this.afterCommit.run({});
    const { workload, sourceHostId, targetHostId } = plan;
    const log = { workloadId: workload.id, tenantId: workload.tenantId, sourceHostId, targetHostId, mode: command.mode, requestId: command.caller.requestId };
    this.logger.info(log, 'vm migration started');

    let result: { status: 'completed' | 'failed' | 'cancelled'; totalTimeMs: number | null; downtimeMs: number | null; transferredBytes: number | null; error: string | null };
    try {
      const assignment = { workloadId: workload.id, tenantId: workload.tenantId, generation: workload.generation, desiredState: 'running' as const, ...assignmentSpecOf(workload) };
      const endpoint = await this.bus.request('agent.*.cmd.vm.migrate.prepare.v1', { assignment }, { nodeId: targetHostId, timeoutMs: PREPARE_TIMEOUT_MS });
      result = await this.bus.request(
        'agent.*.cmd.vm.migrate.send.v1',
        { workloadId: workload.id, target: endpoint, mode: command.mode },
        { nodeId: sourceHostId, timeoutMs: TRANSFER_TIMEOUT_MS },
      );
      // Cold: the disk arrived with the guest not started; boot it there.
      if (result.status === 'completed' && command.mode === 'cold') {
        await this.bus.request('agent.*.cmd.vm.control.v1', { workloadId: workload.id, action: 'boot' }, { nodeId: targetHostId, timeoutMs: PREPARE_TIMEOUT_MS });
      }
    } catch (error) {
      result = { status: 'failed', totalTimeMs: null, downtimeMs: null, transferredBytes: null, error: error instanceof Error ? error.message : String(error) };
    }

    if (result.status !== 'completed') {
      await this.bus.request('agent.*.cmd.vm.migrate.abort.v1', { workloadId: workload.id }, { nodeId: targetHostId, timeoutMs: PREPARE_TIMEOUT_MS }).catch((error: unknown) => {
        this.logger.warn({ ...log, err: error }, 'could not tell the destination to drop the incoming VM; its reconciler removes it as unowned');
      });
    }
    const after = await inTransaction(this.dataSource, async (manager) => {
      const locked = await manager.findOneOrFail(WorkloadEntity, { where: { id: workload.id }, lock: { mode: 'pessimistic_write' } });
      if (result.status === 'completed') {
        await commitMigrationClaim(manager, workload.id);
        return changeWorkload(manager, locked, { state: 'running', hostId: targetHostId, reason: null });
      }
      await releaseMigrationClaim(manager, workload.id);
      return changeWorkload(manager, locked, { state: 'running', reason: `migration to ${targetHostId} ${result.status}: ${(result.error ?? 'unknown').slice(0, 500)}` });
    });
    this.afterCommit.run({ nodesToNudge: [sourceHostId, targetHostId], nudgeReason: `workload ${workload.id} migration ${result.status}`, capacityFreed: true });
    this.logger.info({ ...log, status: result.status, totalTimeMs: result.totalTimeMs, downtimeMs: result.downtimeMs, error: result.error }, 'vm migration ended');
    return {
      workloadId: workload.id,
      mode: command.mode,
      sourceHostId,
      targetHostId,
      status: result.status,
      totalTimeMs: result.totalTimeMs,
      downtimeMs: result.downtimeMs,
      transferredBytes: result.transferredBytes,
      error: result.error,
      workload: toWorkloadView(after),
    };
  }

  private async reserve(manager: EntityManager, { workloadId, targetHostId, mode }: MigrateWorkloadCommand): Promise<Plan> {
    const workload = await manager.findOne(WorkloadEntity, { where: { id: workloadId }, lock: { mode: 'pessimistic_write' } });
    if (!workload || workload.state === 'deleted') throw workloadNotFound(workloadId);
    if (workload.kind !== 'vm') throw new GureumError(ErrorCode.InvalidState, `workload ${workloadId} is a container; only VMs migrate`, { workloadId });
    if (workload.state !== 'running' || workload.desiredState !== 'running' || !workload.hostId) throw workloadInWrongState(workloadId, 'migrate', workload.state);
    const sourceHostId = workload.hostId;
    const request = placementRequestOf(workload);

    let target: string;
    if (targetHostId !== undefined) {
      if (targetHostId === sourceHostId) {
        throw new GureumError(ErrorCode.ValidationFailed, `workload ${workloadId} already runs on ${targetHostId}`, { targetHostId });
      }
      const [row] = await queryRows<HostRow>(manager, `SELECT ${HOST_COLUMNS} FROM "${SCHEMA}"."hosts" WHERE "id" = $2 FOR UPDATE`, [request.image, targetHostId]);
      if (!row) throw new GureumError(ErrorCode.NotFound, `host ${targetHostId} not found`, { targetHostId });
      const rejection = rejectionOf(toSnapshot(row), request, this.settings.placement);
      if (rejection !== null) throw rejectedTarget(targetHostId, rejection, request);
      target = targetHostId;
    } else {
      const { hosts: loaded } = await loadHostSnapshots(manager, request, this.settings.placement, { candidatesOnly: true, excludeWorkloadId: workloadId });
      const hosts = loaded.filter((host) => host.id !== sourceHostId);
      let chosen: string | null = null;
      for (const candidate of rankHosts(hosts, request, this.settings.placement)) {
        const [row] = await queryRows<HostRow>(manager, `SELECT ${HOST_COLUMNS} FROM "${SCHEMA}"."hosts" WHERE "id" = $2 FOR UPDATE`, [request.image, candidate.id]);
        if (row && rejectionOf(toSnapshot(row), request, this.settings.placement) === null) {
          chosen = candidate.id;
          break;
        }
      }
      if (chosen === null) {
        throw new GureumError(ErrorCode.InvalidState, `no other host can take workload ${workloadId}: ${explainNoPlacement(hosts, request, this.settings.placement)}`, { workloadId });
      }
      target = chosen;
    }

    const { cpuMillis, memoryMiB, pids } = request.resources;
    await manager.query(
      `INSERT INTO "${SCHEMA}"."migration_claims" ("workload_id", "source_host_id", "target_host_id", "mode", "cpu_millis", "memory_mib", "pids")
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [workloadId, sourceHostId, target, mode, cpuMillis, memoryMiB, pids],
    );
    await adjustAllocation(manager, target, request.resources, +1);
    const migrating = await changeWorkload(manager, workload, { state: 'migrating', reason: `migrating to ${target} (${mode})` });
    return { workload: migrating, sourceHostId, targetHostId: target };
  }
}

function rejectedTarget(hostId: string, rejection: NonNullable<ReturnType<typeof rejectionOf>>, request: PlacementRequest): GureumError {
  switch (rejection.filter) {
    case 'host_state':
      return new GureumError(ErrorCode.InvalidState, `host ${hostId} is not ready (${rejection.detail})`, { targetHostId: hostId });
    case 'driver':
      return new GureumError(ErrorCode.InvalidState, `host ${hostId} does not offer the vm driver`, { targetHostId: hostId });
    case 'image':
      return new GureumError(ErrorCode.ImageUnknown, `host ${hostId} does not have the VM's template`, { targetHostId: hostId });
    case 'capacity':
      return new GureumError(ErrorCode.InvalidState, `host ${hostId} has no room for ${describeResources(request.resources)}`, { targetHostId: hostId });
    default:
      return new GureumError(ErrorCode.InvalidState, `host ${hostId} cannot take the VM: ${rejection.detail}`, { targetHostId: hostId });
  }
}

async function adjustAllocation(manager: EntityManager, hostId: string, resources: PlacementRequest['resources'], sign: 1 | -1): Promise<void> {
  await manager.query(
    `UPDATE "${SCHEMA}"."hosts"
        SET "allocated_cpu_millis" = "allocated_cpu_millis" + $2,
            "allocated_memory_mib" = "allocated_memory_mib" + $3,
            "allocated_pids" = "allocated_pids" + $4,
            "generation" = "generation" + 1,
            "updated_at" = now()
      WHERE "id" = $1`,
    [hostId, sign * resources.cpuMillis, sign * resources.memoryMiB, sign * resources.pids],
  );
}

/** A completed migration: the source's claim is released and the reservation becomes the claim on the target. */
export async function commitMigrationClaim(manager: EntityManager, workloadId: string): Promise<void> {
  await releaseClaim(manager, workloadId);
  await manager.query(
    `INSERT INTO "${SCHEMA}"."claims" ("workload_id", "host_id", "cpu_millis", "memory_mib", "pids")
     SELECT "workload_id", "target_host_id", "cpu_millis", "memory_mib", "pids" FROM "${SCHEMA}"."migration_claims" WHERE "workload_id" = $1`,
    [workloadId],
  );
  await manager.query(`DELETE FROM "${SCHEMA}"."migration_claims" WHERE "workload_id" = $1`, [workloadId]);
}

/** Gives a failed migration's reservation back to the target host. */
export async function releaseMigrationClaim(manager: EntityManager, workloadId: string): Promise<void> {
  const [row] = await queryRows<{ target_host_id: string; cpu_millis: number; memory_mib: number; pids: number }>(
    manager,
    `DELETE FROM "${SCHEMA}"."migration_claims" WHERE "workload_id" = $1 RETURNING "target_host_id", "cpu_millis", "memory_mib", "pids"`,
    [workloadId],
  );
  if (row) await adjustAllocation(manager, row.target_host_id, { cpuMillis: row.cpu_millis, memoryMiB: row.memory_mib, pids: row.pids }, -1);
}
