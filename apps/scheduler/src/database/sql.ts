/** The schema this service owns; raw SQL names it explicitly (no search_path games). */
export const SCHEMA = 'scheduler';

// Lock order is consistent within each use case but not across all of them (the host monitor
// locks host → workloads, reports lock workloads → host), so deadlocks are retried.
export { inQueuedTransaction, inTransaction, queryRows, type QueuedTransaction } from '@gureum/database';
