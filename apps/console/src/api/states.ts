import type { WorkloadState } from './types';

/** The workload state machine's states, for filters (kept in step with the contract by the type). */
export const WORKLOAD_STATE_NAMES: readonly WorkloadState[] = ['pending', 'scheduled', 'starting', 'running', 'paused', 'stopping', 'stopped', 'migrating', 'failed', 'unknown', 'lost', 'deleted'];
