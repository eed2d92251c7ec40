import { DEADLOCK_SQLSTATES, inTransaction as serviceTransaction } from '@gureum/database';
import type { DataSource, EntityManager } from 'typeorm';

export { hasSqlState, queryRows } from '@gureum/database';

/** The schema this service owns; raw SQL names it explicitly. */
export const SCHEMA = 'registry';

/** Besides deadlocks, a racing insert of the same blob/tag (unique_violation) is retried: the re-run sees the winner's row. */
const REGISTRY_RETRYABLE = new Set([...DEADLOCK_SQLSTATES, '23505']);

export function inTransaction<T>(dataSource: DataSource, work: (manager: EntityManager) => Promise<T>): Promise<T> {
  return serviceTransaction(dataSource, work, { retryOn: REGISTRY_RETRYABLE });
}
