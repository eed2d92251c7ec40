import { randomUUID } from 'node:crypto';
import type { DesiredState, WorkloadState } from '@gureum/contracts';
import { enqueueEvent } from '@gureum/messaging';
import type { EntityManager } from 'typeorm';
import { queryRows, SCHEMA } from '../database/sql';
import { quotaDeltaOf } from '../quotas/quota';
import { releaseQuota } from '../quotas/quota-store';
import { workloadNotFound } from './workload.exception';
import { WorkloadEntity } from './workload.entity';
import { assertTransition } from './workload-state';

export interface WorkloadChange {
  state?: WorkloadState;
  desiredState?: DesiredState;
  reason?: string | null;
  exitCode?: number | null;
  hostId?: string | null;
  generation?: number;
}

/** Loads a workload of `tenantId` and locks it for the rest of the transaction. */
export async function lockTenantWorkload(manager: EntityManager, tenantId: string, workloadId: string): Promise<WorkloadEntity> {
  const workload = await manager.findOne(WorkloadEntity, { where: { id: workloadId, tenantId }, lock: { mode: 'pessimistic_write' } });
  if (!workload) throw workloadNotFound(workloadId);
  return workload;
}

/**
 * The one way a workload row changes. A state change is checked against the state machine and
 * recorded twice in the same transaction: a `workload_events` row (history) and an outbox
 * event (the fact other services consume). Returns the row as stored.
 */
export async function changeWorkload(manager: EntityManager, workload: WorkloadEntity, change: WorkloadChange): Promise<WorkloadEntity> {
  const stateChanges = change.state !== undefined && change.state !== workload.state;
  if (stateChanges) assertTransition(workload.state, change.state!);
  // Drop keys given as undefined: TypeORM would otherwise try to write them.
  const values = Object.fromEntries(Object.entries(change).filter(([, value]) => value !== undefined)) as WorkloadChange;
  await manager.update(
    WorkloadEntity,
    { id: workload.id },
    {
      ...values,
      updatedAt: () => 'now()',
      ...(change.state === 'deleted' && stateChanges ? { deletedAt: () => 'now()' } : {}),
    },
  );
  const updated = await manager.findOneByOrFail(WorkloadEntity, { id: workload.id });
  if (stateChanges) await recordTransition(manager, updated, workload.state);
  // Whatever path deletes a workload, its tenant gets the quota back in the same transaction.
  if (stateChanges && change.state === 'deleted') await releaseQuota(manager, workload.tenantId, quotaDeltaOf(workload));
  return updated;
}

/** History row + outbox event for `workload` having just entered its current state. */
export async function recordTransition(manager: EntityManager, workload: WorkloadEntity, from: WorkloadState | null): Promise<void> {
  const eventId = randomUUID();
  const [row] = await queryRows<{ at: Date }>(
    manager,
    `INSERT INTO "${SCHEMA}"."workload_events" ("event_id", "workload_id", "from_state", "to_state", "reason")
     VALUES ($1, $2, $3, $4, $5) RETURNING "at"`,
    [eventId, workload.id, from, workload.state, workload.reason],
  );
  await enqueueEvent(
    manager,
    'evt.workload.state.v1',
    {
      eventId,
      workloadId: workload.id,
      tenantId: workload.tenantId,
      hostId: workload.hostId,
      from,
      to: workload.state,
      reason: workload.reason,
      generation: workload.generation,
      at: row!.at.toISOString(),
      resources: { cpuMillis: workload.cpuMillis, memoryMiB: workload.memoryMiB, pids: workload.pids },
    },
    eventId,
  );
}
