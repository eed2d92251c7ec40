import type { DesiredState, ObservedTask, WorkloadState } from '@gureum/contracts';
import { canTransition } from '../workloads/workload-state';

/** What the scheduler knows about a workload when an agent's observation arrives. */
export interface WorkloadStatus {
  state: WorkloadState;
  desiredState: DesiredState;
  generation: number;
  reason: string | null;
  exitCode: number | null;
}

export type ObservationOutcome =
  | { kind: 'ignore'; why: 'stale_generation' | 'unknown_generation' | 'generation_finished' | 'no_change' | 'transition_not_allowed' | 'migrating' }
  | { kind: 'change'; to: WorkloadState; reason: string | null; exitCode: number | null; releaseClaim: boolean };

interface Target {
  to: WorkloadState;
  reason: string | null;
  exitCode: number | null;
}

/**
 * Turns one observed task into the workload's next state. Level-triggered: the same report
 * applied twice gives `no_change` the second time, and reports may arrive in any order.
 */
export function interpretObservation(workload: WorkloadStatus, task: ObservedTask): ObservationOutcome {
  // An absent task is the one fact a delete waits for; its generation does not matter.
  if (workload.desiredState === 'deleted') {
    if (task.state !== 'absent') return ignore('no_change');
    return decide(workload, { to: 'deleted', reason: null, exitCode: workload.exitCode }, true);
  }
  // A migration owns the state until it ends: the source keeps reporting its QEMU meanwhile.
  if (workload.state === 'migrating') return ignore('migrating');
  if (task.generation < workload.generation) return ignore('stale_generation');
  if (task.generation > workload.generation) return ignore('unknown_generation');

  const target = workload.desiredState === 'running' ? targetWhileRunning(workload, task) : targetWhileStopped(workload, task);
  if (target === null) return ignore('no_change');
  if (target === 'finished') return ignore('generation_finished');
  return decide(workload, target, false);
}

function targetWhileRunning(workload: WorkloadStatus, task: ObservedTask): Target | 'finished' | null {
  // The run of this generation already ended; the agent does not restart it, so a later
  // report of the same generation (e.g. `absent` after cleanup) must not revive it.
  if (workload.state === 'stopped' || workload.state === 'failed') return 'finished';
  switch (task.state) {
    case 'created':
    case 'absent': // the agent is about to create it
      return { to: 'starting', reason: null, exitCode: null };
    case 'running':
      return { to: 'running', reason: null, exitCode: null };
    case 'paused':
      return { to: 'paused', reason: null, exitCode: null };
    case 'exited':
      if (task.oomKilled) return { to: 'failed', reason: 'oom_killed', exitCode: task.exitCode };
      if (task.exitCode === 0) return { to: 'stopped', reason: 'completed', exitCode: 0 };
      return { to: 'failed', reason: 'exited', exitCode: task.exitCode };
    case 'error':
      // A pull failure's message is the reason a tenant can act on ("image pull failed: denied ...").
      if (task.error?.code === 'image_pull_failed') return { to: 'failed', reason: task.error.message.slice(0, 1000), exitCode: task.exitCode };
      return { to: 'failed', reason: task.error?.code ?? 'error', exitCode: task.exitCode };
  }
}

function targetWhileStopped(workload: WorkloadStatus, task: ObservedTask): Target | null {
  switch (task.state) {
    case 'exited':
      return { to: 'stopped', reason: null, exitCode: task.exitCode };
    case 'absent': // removed or never created: nothing new to learn about how it ended
    case 'created':
      return { to: 'stopped', reason: null, exitCode: workload.state === 'stopped' ? workload.exitCode : null };
    default:
      return null; // still running or paused: the agent is stopping it
  }
}

function decide(workload: WorkloadStatus, target: Target, releaseClaim: boolean): ObservationOutcome {
  if (target.to === workload.state) {
    return target.reason === workload.reason && target.exitCode === workload.exitCode
      ? ignore('no_change')
      : { kind: 'change', ...target, releaseClaim };
  }
  if (!canTransition(workload.state, target.to)) return ignore('transition_not_allowed');
  return { kind: 'change', ...target, releaseClaim };
}

function ignore(why: Extract<ObservationOutcome, { kind: 'ignore' }>['why']): ObservationOutcome {
  return { kind: 'ignore', why };
}
