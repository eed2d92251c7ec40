import { ErrorCode, GureumError, type WorkloadState } from '@gureum/contracts';

/**
 * Every transition the scheduler may write, and nothing else. Writing the table out (rather
 * than deriving it) makes each allowed edge a decision someone took; the spec pins it.
 *
 * - pending: waiting for a host; placement moves it on, a stop/delete ends it without a host.
 * - scheduled/starting/running/paused: a task exists or is being created on a host; the
 *   agent's reports move it between these and to stopped/failed when the task exits.
 * - stopping: the user asked to stop or delete; the agent's report finishes it.
 * - stopped/failed: the run of this generation ended; only a user start or delete leaves.
 * - unknown: the host went silent (`unreachable`) but is within the disconnect grace window.
 *   The workload keeps its placement and claim and its task probably still runs; the agent's
 *   next report after the host returns says what it is (running, exited, …). At the end of the
 *   window it goes `lost`. A stop or delete meanwhile waits for the agent (`stopping`), which a
 *   silent host does not turn `unknown`: it already says that it waits.
 * - lost: the host stayed silent past the grace window; if it comes back, its reports are believed again.
 * - scheduled/starting/running/paused → pending: preempted by a higher-priority workload
 *   (its claim is released in the same transaction; it is placed again later).
 * - … → pending: re-placement. A drained host's workloads, or a lost host's restartable ones,
 *   give up their claim and are placed again elsewhere (same id, same generation).
 * - migrating: reserved for live migration (running → migrating → running on the new host).
 * - deleted: terminal.
 */
export const ALLOWED_TRANSITIONS: Readonly<Record<WorkloadState, readonly WorkloadState[]>> = {
  pending: ['scheduled', 'stopped', 'deleted'],
  scheduled: ['starting', 'running', 'stopping', 'stopped', 'failed', 'unknown', 'lost', 'pending'],
  starting: ['running', 'stopping', 'stopped', 'failed', 'unknown', 'lost', 'pending'],
  running: ['starting', 'paused', 'stopping', 'stopped', 'failed', 'unknown', 'lost', 'migrating', 'pending'],
  paused: ['running', 'starting', 'stopping', 'stopped', 'failed', 'unknown', 'lost', 'pending'],
  stopping: ['stopped', 'lost', 'deleted'],
  stopped: ['pending', 'starting', 'stopping', 'deleted'],
  failed: ['pending', 'starting', 'stopping', 'deleted'],
  unknown: ['starting', 'running', 'paused', 'stopping', 'stopped', 'failed', 'lost'],
  lost: ['starting', 'running', 'paused', 'stopping', 'stopped', 'failed', 'deleted', 'pending'],
  migrating: ['running', 'failed', 'lost'],
  deleted: [],
};

/** States in which a task is (or is about to be) on the host: what a lost host takes with it. */
export const STATES_WITH_TASK_ON_HOST: readonly WorkloadState[] = ['scheduled', 'starting', 'running', 'paused', 'stopping', 'migrating', 'unknown'];

/**
 * What an unreachable host's workloads become `unknown` from. `stopping` already waits for the
 * agent and says so; a migration keeps its own state (the migration's recovery owns it).
 */
export const STATES_UNKNOWN_WHEN_UNREACHABLE: readonly WorkloadState[] = ['scheduled', 'starting', 'running', 'paused'];

export function canTransition(from: WorkloadState, to: WorkloadState): boolean {
  return ALLOWED_TRANSITIONS[from].includes(to);
}

/** Guards every write; a disallowed edge is a bug in the caller or a request in the wrong state. */
export function assertTransition(from: WorkloadState, to: WorkloadState): void {
  if (!canTransition(from, to)) {
    throw new GureumError(ErrorCode.InvalidState, `workload cannot go from ${from} to ${to}`, { from, to });
  }
}
