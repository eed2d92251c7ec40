import { randomUUID } from 'node:crypto';
import { enqueueEvent } from '@gureum/messaging';
import type { EntityManager } from 'typeorm';
import { queryRows, SCHEMA } from '../database/sql';
import type { HostState } from '../placement/placement';

/**
 * Records a host state change that the caller has just written, as an outbox event in the
 * same transaction (`evt.host.state.v1`; the console shows them live).
 */
export async function recordHostTransition(
  manager: EntityManager,
  hostId: string,
  from: HostState | null,
  to: HostState,
  reason: string | null,
  /** The transaction's `now()`, when the caller already has it (saves a round trip). */
  at?: Date,
): Promise<void> {
  if (from === to) return;
  const eventId = randomUUID();
  const when = at ?? (await queryRows<{ at: Date }>(manager, `SELECT now() AS "at"`))[0]!.at;
  await enqueueEvent(manager, 'evt.host.state.v1', { eventId, hostId, from, to, reason, at: when.toISOString() }, eventId);
}

/** Workloads still assigned to a host (anything not deleted that names it). */
export async function countHostWorkloads(manager: EntityManager, hostId: string): Promise<number> {
  const [row] = await queryRows<{ n: number }>(
    manager,
    `SELECT count(*)::int AS "n" FROM "${SCHEMA}"."workloads" WHERE "host_id" = $1 AND "state" <> 'deleted'`,
    [hostId],
  );
  return row?.n ?? 0;
}
