import { Inject, Injectable } from '@nestjs/common';
import { ErrorCode, GureumError, type Caller, type SnapshotList, type SnapshotView, type ValidRequestOf, type WorkloadView } from '@gureum/contracts';
import type { Logger } from '@gureum/runtime';
import { Bus } from '@gureum/messaging';
import { DataSource, type EntityManager } from 'typeorm';
import { AfterCommit } from '../common/after-commit';
import { assertMayModify } from '../common/caller-access';
import { LOGGER } from '../common/tokens';
import { inTransaction } from '../database/sql';
import { workloadInWrongState, workloadNotFound } from '../workloads/workload.exception';
import { changeWorkload, lockTenantWorkload } from '../workloads/workload-store';
import { toWorkloadView } from '../workloads/workload-view';
import { WorkloadEntity } from '../workloads/workload.entity';

/** savevm/loadvm of a guest under TCG on a busy machine take seconds; QMP itself waits up to 120 s. */
const SNAPSHOT_TIMEOUT_MS = 150_000;
const CONTROL_TIMEOUT_MS = 30_000;

type SnapshotCreate = ValidRequestOf<'scheduler.cmd.workload.snapshot.create.v1'>;
type SnapshotRef = ValidRequestOf<'scheduler.cmd.workload.snapshot.restore.v1'>;

/**
 * What only a VM can do, on the host that runs it: pause/resume and snapshots. The scheduler
 * checks the tenant and the workload's state under the workload's row lock, asks the VM's
 * agent (on that agent's own subject), and writes the new state only when the agent did it,
 * in the same transaction: a refused or failed operation leaves the state as it was.
 */
@Injectable()
export class VmOperationsUseCase {
  constructor(
    private readonly dataSource: DataSource,
    private readonly bus: Bus,
    private readonly afterCommit: AfterCommit,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async pause({ caller, workloadId }: { caller: Caller; workloadId: string }): Promise<WorkloadView> {
    assertMayModify(caller);
    const workload = await inTransaction(this.dataSource, async (manager) => {
      const current = await lockVm(manager, caller, workloadId, 'pause');
      if (current.state === 'paused') return current;
      if (current.state !== 'running' || current.desiredState !== 'running') throw workloadInWrongState(workloadId, 'pause', current.state);
      await this.bus.request('agent.*.cmd.vm.control.v1', { workloadId, action: 'pause' }, { nodeId: hostOf(current), timeoutMs: CONTROL_TIMEOUT_MS });
      return changeWorkload(manager, current, { state: 'paused', reason: 'paused by user' });
    });
    this.done(caller, workload, 'vm paused');
    return toWorkloadView(workload);
  }

  async resume({ caller, workloadId }: { caller: Caller; workloadId: string }): Promise<WorkloadView> {
    assertMayModify(caller);
    const workload = await inTransaction(this.dataSource, async (manager) => {
      const current = await lockVm(manager, caller, workloadId, 'resume');
      if (current.state === 'running') return current;
      if (current.state !== 'paused' || current.desiredState !== 'running') throw workloadInWrongState(workloadId, 'resume', current.state);
      await this.bus.request('agent.*.cmd.vm.control.v1', { workloadId, action: 'resume' }, { nodeId: hostOf(current), timeoutMs: CONTROL_TIMEOUT_MS });
      return changeWorkload(manager, current, { state: 'running', reason: null });
    });
    this.done(caller, workload, 'vm resumed');
    return toWorkloadView(workload);
  }

  async createSnapshot({ caller, workloadId, name, withMemory }: SnapshotCreate): Promise<SnapshotView> {
    assertMayModify(caller);
    return inTransaction(this.dataSource, async (manager) => {
      const current = await lockVm(manager, caller, workloadId, 'snapshot');
      if (current.state !== 'running' && current.state !== 'paused') throw workloadInWrongState(workloadId, 'snapshot', current.state);
      const list = await this.bus.request(
        'agent.*.cmd.vm.snapshot.v1',
        { workloadId, op: 'create', name, withMemory },
        { nodeId: hostOf(current), timeoutMs: SNAPSHOT_TIMEOUT_MS },
      );
      const created = list.items.find((snapshot) => snapshot.name === name);
      if (!created) throw new GureumError(ErrorCode.Internal, `snapshot ${name} of workload ${workloadId} was not recorded`);
      this.logger.info({ tenantId: caller.tenantId, workloadId, snapshot: name, withMemory, requestId: caller.requestId }, 'vm snapshot created');
      return created;
    });
  }

  async listSnapshots({ caller, workloadId }: { caller: Caller; workloadId: string }): Promise<SnapshotList> {
    const current = await this.dataSource.manager.findOneBy(WorkloadEntity, { id: workloadId, tenantId: caller.tenantId });
    if (!current || current.state === 'deleted') throw workloadNotFound(workloadId);
    if (current.kind !== 'vm') throw notAVm(workloadId, 'list snapshots of');
    if (!current.hostId) return { items: [] };
    return this.bus.request('agent.*.cmd.vm.snapshot.v1', { workloadId, op: 'list' }, { nodeId: current.hostId, timeoutMs: CONTROL_TIMEOUT_MS });
  }

  /**
   * Snapshots live inside the VM's own disk, so a name only ever refers to this VM's
   * snapshots: another VM's (or tenant's) snapshot is simply not found here.
   */
  async restoreSnapshot({ caller, workloadId, name }: SnapshotRef): Promise<WorkloadView> {
    assertMayModify(caller);
    const workload = await inTransaction(this.dataSource, async (manager) => {
      const current = await lockVm(manager, caller, workloadId, 'restore');
      if (current.state !== 'running' && current.state !== 'paused' && current.state !== 'stopped') throw workloadInWrongState(workloadId, 'restore', current.state);
      await this.bus.request('agent.*.cmd.vm.snapshot.v1', { workloadId, op: 'restore', name }, { nodeId: hostOf(current), timeoutMs: SNAPSHOT_TIMEOUT_MS });
      return current;
    });
    this.done(caller, workload, `vm snapshot ${name} restored`);
    return toWorkloadView(workload);
  }

  async deleteSnapshot({ caller, workloadId, name }: SnapshotRef): Promise<{ name: string; deleted: true }> {
    assertMayModify(caller);
    await inTransaction(this.dataSource, async (manager) => {
      const current = await lockVm(manager, caller, workloadId, 'delete a snapshot of');
      await this.bus.request('agent.*.cmd.vm.snapshot.v1', { workloadId, op: 'delete', name }, { nodeId: hostOf(current), timeoutMs: SNAPSHOT_TIMEOUT_MS });
    });
    return { name, deleted: true };
  }

  private done(caller: Caller, workload: WorkloadEntity, message: string): void {
    this.afterCommit.run({ nodesToNudge: workload.hostId ? [workload.hostId] : [], nudgeReason: message });
    this.logger.info({ tenantId: caller.tenantId, workloadId: workload.id, state: workload.state, requestId: caller.requestId }, message);
  }
}

export async function lockVm(manager: EntityManager, caller: Caller, workloadId: string, action: string): Promise<WorkloadEntity> {
  const current = await lockTenantWorkload(manager, caller.tenantId, workloadId);
  if (current.state === 'deleted') throw workloadNotFound(workloadId);
  if (current.kind !== 'vm') throw notAVm(workloadId, action);
  if (!current.hostId) throw workloadInWrongState(workloadId, action, current.state, `${current.state} and on no host`);
  return current;
}

function hostOf(workload: WorkloadEntity): string {
  if (!workload.hostId) throw workloadInWrongState(workload.id, 'reach', workload.state, 'on no host');
  return workload.hostId;
}

function notAVm(workloadId: string, action: string): GureumError {
  return new GureumError(ErrorCode.InvalidState, `cannot ${action} workload ${workloadId}: it is a container, not a VM`, { workloadId, kind: 'container' });
}
