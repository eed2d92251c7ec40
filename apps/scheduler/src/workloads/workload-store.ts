import { randomUUID } from 'node:crypto';
import { eventDef, parseOrThrow, type DesiredState, type WorkloadState } from '@gureum/contracts';
import type { EntityManager } from 'typeorm';
import { queryRows, SCHEMA } from '../database/sql';
import { quotaDeltaOf } from '../quotas/quota';
import { releaseQuota } from '../quotas/quota-store';
import { workloadNotFound } from './workload.exception';
import { WorkloadEntity } from './workload.entity';
import { workloadFromRow, type WorkloadRow } from './workload-row';
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
 *
 * `opening`: the workload was inserted `pending` earlier in this same transaction and has no
 * history yet. Its history opens with the state this change leaves it in, as one transition
 * from null (`null → scheduled` for a create placed at once, as the batch path writes it;
 * `null → pending` for one that waits), never with a `pending` that no one could ever see.
 */
export async function changeWorkload(manager: EntityManager, workload: WorkloadEntity, change: WorkloadChange, options: { opening?: boolean } = {}): Promise<WorkloadEntity> {
  const stateChanges = change.state !== undefined && change.state !== workload.state;
  if (stateChanges) assertTransition(workload.state, change.state!);
  const params: unknown[] = [workload.id];
  const sets = ['"updated_at" = now()'];
  for (const [key, column] of CHANGE_COLUMNS) {
    if (change[key] === undefined) continue;
    params.push(change[key]);
    sets.push(`"${column}" = $${params.length}`);
  }
  if (change.state === 'deleted' && stateChanges) sets.push('"deleted_at" = now()');
  // RETURNING: the row as stored, without a second round trip to read it back.
  const [row] = await queryRows<WorkloadRow>(manager, `UPDATE "${SCHEMA}"."workloads" SET ${sets.join(', ')} WHERE "id" = $1 RETURNING *`, params);
  if (!row) throw workloadNotFound(workload.id);
  const updated = workloadFromRow(row);
  if (options.opening) await recordTransition(manager, updated, null);
  else if (stateChanges) await recordTransition(manager, updated, workload.state);
  // Whatever path deletes a workload, its tenant gets the quota back in the same transaction.
  if (stateChanges && change.state === 'deleted') await releaseQuota(manager, workload.tenantId, quotaDeltaOf(workload));
  return updated;
}

const CHANGE_COLUMNS: ReadonlyArray<readonly [keyof WorkloadChange, string]> = [
  ['state', 'state'],
  ['desiredState', 'desired_state'],
  ['reason', 'reason'],
  ['exitCode', 'exit_code'],
  ['hostId', 'host_id'],
  ['generation', 'generation'],
];

/** History row + outbox event for `workload` having just entered its current state. */
export async function recordTransition(manager: EntityManager, workload: WorkloadEntity, from: WorkloadState | null): Promise<void> {
  const eventId = randomUUID();
  const def = eventDef('evt.workload.state.v1');
  // Validated here like every outbox payload; `at` is the history row's own timestamp, set by
  // the statement below (the placeholder only satisfies the schema).
  const payload = parseOrThrow(
    def.payload,
    {
      eventId,
      workloadId: workload.id,
      tenantId: workload.tenantId,
      hostId: workload.hostId,
      from,
      to: workload.state,
      reason: workload.reason,
      generation: workload.generation,
      at: new Date().toISOString(),
      resources: { cpuMillis: workload.cpuMillis, memoryMiB: workload.memoryMiB, pids: workload.pids },
    },
    `event ${def.subject}`,
  );
  // History row and outbox row in one statement (one round trip instead of two).
  await manager.query(
    `WITH "event" AS (
       INSERT INTO "${SCHEMA}"."workload_events" ("event_id", "workload_id", "from_state", "to_state", "reason")
       VALUES ($1, $2, $3, $4, $5) RETURNING "at"
     )
     INSERT INTO "${SCHEMA}"."outbox" ("message_id", "subject", "payload")
     SELECT $1, $6, jsonb_set($7::jsonb, '{at}', to_jsonb(to_char("event"."at" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))) FROM "event"`,
    [eventId, workload.id, from, workload.state, workload.reason, def.subject, JSON.stringify(payload)],
  );
}
