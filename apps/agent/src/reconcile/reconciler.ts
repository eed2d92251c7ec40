import type { Assignment, ObservedTask, ReleasedTask } from '@gureum/contracts';
import type { Logger } from 'pino';
import { DriverError, type TaskSpec, type TaskStatus, type WorkloadDriver } from '../driver';

/** Which start generation each task handle has carried out (Docker labels are immutable). */
export interface AppliedGenerations {
  get(handleId: string): number | undefined;
  set(handleId: string, generation: number): Promise<void>;
  delete(handleId: string): Promise<void>;
}

export interface ReconcileResult {
  observed: ObservedTask[];
  /** Tasks no assignment lists that the control plane released, and that were removed. */
  removedOrphans: string[];
  /**
   * Workloads of tasks this agent created that no assignment lists and nobody released: kept,
   * and named in the next assignments request (`held`) so the control plane can answer.
   */
  held: string[];
  /** Running tasks, so the caller can wait on them and reconcile again when one exits. */
  running: TaskStatus[];
}

export interface ReconcileOptions {
  /** The control plane's answer about the tasks this node held last time (see `held`). */
  released?: ReadonlyMap<string, ReleasedTask['reason']>;
  /** Called as soon as a task's state changed in this pass (started, stopped, removed, failed). */
  onChange?: (observed: ObservedTask) => void;
}

/**
 * Level-triggered reconciliation, as a kubelet does: compare what the scheduler assigned
 * with what the engine has, act to close the gap, and report what is there afterwards.
 * It never trusts its own memory over the engine: every pass starts from `driver.recover`
 * (which only returns tasks this agent created).
 *
 * It removes a task only when the control plane says so: an assignment whose desired state
 * is `deleted`, or a `released` answer (deleted, moved to another host, unknown). A task
 * that an assignment list is merely missing — the scheduler briefly thought the host lost,
 * or is between placements — is kept running and held, never destroyed on that ground.
 */
export class Reconciler {
  /** workloadId → generation whose start failed: not retried until the user starts again. */
  private readonly failedStarts = new Map<string, { generation: number; error: DriverError }>();
  /** Handles already logged as held, so a long wait logs once. */
  private readonly loggedHeld = new Set<string>();

  constructor(
    private readonly nodeId: string,
    private readonly driver: WorkloadDriver,
    private readonly applied: AppliedGenerations,
    private readonly logger: Logger,
    private readonly stopTimeoutSeconds = 10,
    /** Tasks no assignment owns yet that must not be removed (a VM arriving by live migration). */
    private readonly isProtected: (workloadId: string) => boolean = () => false,
  ) {}

  async reconcile(assignments: Assignment[], options: ReconcileOptions = {}): Promise<ReconcileResult> {
    const released = options.released ?? new Map<string, ReleasedTask['reason']>();
    const tasks = await this.driver.recover(this.nodeId);
    const byWorkload = new Map<string, TaskStatus>();
    const removedOrphans: string[] = [];
    const held = new Set<string>();
    const assigned = new Set(assignments.map((a) => a.workloadId));
    const present = new Set<string>();

    for (const task of tasks) {
      present.add(task.handleId);
      const existing = byWorkload.get(task.workloadId);
      if (assigned.has(task.workloadId) && !existing) {
        byWorkload.set(task.workloadId, task);
        continue;
      }
      if (assigned.has(task.workloadId)) {
        // A second task of our own for one assigned workload (both created by this agent):
        // the assignment is the instruction, and it wants one.
        await this.remove(task, 'removed duplicate task of an assigned workload');
        removedOrphans.push(task.handleId);
        continue;
      }
      if (this.isProtected(task.workloadId)) continue;
      const reason = released.get(task.workloadId);
      if (reason) {
        await this.remove(task, 'removed task the control plane released', { reason });
        removedOrphans.push(task.handleId);
        continue;
      }
      held.add(task.workloadId);
      if (!this.loggedHeld.has(task.handleId)) {
        this.loggedHeld.add(task.handleId);
        this.logger.info(
          { workloadId: task.workloadId, tenantId: task.tenantId, handleId: task.handleId, state: task.state },
          'kept task no assignment lists: asking the control plane before removing it',
        );
      }
    }
    for (const handleId of this.loggedHeld) if (!present.has(handleId)) this.loggedHeld.delete(handleId);

    const observed: ObservedTask[] = [];
    const running: TaskStatus[] = [];
    for (const assignment of assignments) {
      const result = await this.reconcileOne(assignment, byWorkload.get(assignment.workloadId));
      observed.push(result.observed);
      if (result.changed) options.onChange?.(result.observed);
      if (result.task?.state === 'running') running.push(result.task);
    }
    return { observed, removedOrphans, held: [...held], running };
  }

  /**
   * Fencing (the control plane has been out of reach too long, so it may run this node's
   * restartable workloads elsewhere): stops every live task of this driver. Stopped, not
   * removed: on reconnect the agent reports them as they are and the control plane decides.
   */
  async fence(): Promise<string[]> {
    const stopped: string[] = [];
    for (const task of await this.driver.recover(this.nodeId)) {
      if (task.state !== 'running' && task.state !== 'paused') continue;
      try {
        await this.driver.stop(task.handleId, this.stopTimeoutSeconds);
        stopped.push(task.handleId);
      } catch (error) {
        this.logger.error({ err: error, workloadId: task.workloadId, handleId: task.handleId }, 'fencing could not stop task');
      }
    }
    return stopped;
  }

  private async remove(task: TaskStatus, message: string, details: object = {}): Promise<void> {
    await this.driver.destroy(task.handleId);
    await this.applied.delete(task.handleId);
    this.loggedHeld.delete(task.handleId);
    this.logger.info({ workloadId: task.workloadId, tenantId: task.tenantId, handleId: task.handleId, ...details }, message);
  }

  private async reconcileOne(assignment: Assignment, task: TaskStatus | undefined): Promise<{ observed: ObservedTask; task: TaskStatus | null; changed: boolean }> {
    const log = this.logger.child({ workloadId: assignment.workloadId, tenantId: assignment.tenantId });
    try {
      switch (assignment.desiredState) {
        case 'running':
          return await this.ensureRunning(assignment, task, log);
        case 'stopped': {
          if (task && (task.state === 'running' || task.state === 'paused')) {
            await this.driver.stop(task.handleId, this.stopTimeoutSeconds);
            log.info({ handleId: task.handleId }, 'stopped task');
            const after = await this.driver.inspect(task.handleId);
            return { observed: observe(assignment, after), task: after, changed: true };
          }
          return { observed: observe(assignment, task ?? null), task: task ?? null, changed: false };
        }
        case 'deleted': {
          if (task) {
            await this.driver.destroy(task.handleId);
            await this.applied.delete(task.handleId);
            log.info({ handleId: task.handleId }, 'destroyed task');
          }
          this.failedStarts.delete(assignment.workloadId);
          return { observed: observe(assignment, null), task: null, changed: task !== undefined };
        }
      }
    } catch (error) {
      const driverError = error instanceof DriverError ? error : new DriverError('driver_failure', String(error), { cause: error });
      log.error({ err: error, code: driverError.code }, 'reconcile of workload failed');
      return { observed: observeError(assignment, task?.handleId ?? null, driverError), task: task ?? null, changed: true };
    }
  }

  private async ensureRunning(assignment: Assignment, task: TaskStatus | undefined, log: Logger): Promise<{ observed: ObservedTask; task: TaskStatus | null; changed: boolean }> {
    const failed = this.failedStarts.get(assignment.workloadId);
    if (!task && failed && failed.generation === assignment.generation) {
      return { observed: observeError(assignment, null, failed.error), task: null, changed: false };
    }
    if (!task) {
      try {
        const started = await this.driver.start(taskSpecOf(assignment, this.nodeId));
        await this.applied.set(started.handleId, assignment.generation);
        this.failedStarts.delete(assignment.workloadId);
        log.info({ handleId: started.handleId, generation: assignment.generation }, 'started task');
        return { observed: observe(assignment, started), task: started, changed: true };
      } catch (error) {
        if (error instanceof DriverError) this.failedStarts.set(assignment.workloadId, { generation: assignment.generation, error });
        throw error;
      }
    }
    const appliedGeneration = this.applied.get(task.handleId) ?? task.generation;
    if (appliedGeneration < assignment.generation) {
      // The user asked for a start after the task last ran: run the same task again.
      if (task.state === 'running' || task.state === 'paused') {
        await this.applied.set(task.handleId, assignment.generation);
        return { observed: observe(assignment, task), task, changed: false };
      }
      const restarted = await this.driver.restart(task.handleId, assignment.generation);
      await this.applied.set(task.handleId, assignment.generation);
      log.info({ handleId: task.handleId, generation: assignment.generation }, 'restarted task');
      return { observed: observe(assignment, restarted), task: restarted, changed: true };
    }
    // Same generation: an exited task stays exited (the control plane decides about restarts).
    return { observed: observe(assignment, task), task, changed: false };
  }
}

function observe(assignment: Assignment, task: TaskStatus | null): ObservedTask {
  if (!task) {
    return {
      workloadId: assignment.workloadId,
      generation: assignment.generation,
      handleId: null,
      state: 'absent',
      exitCode: null,
      oomKilled: false,
      startedAt: null,
      finishedAt: null,
      error: null,
    };
  }
  return {
    workloadId: assignment.workloadId,
    generation: assignment.generation,
    handleId: task.handleId,
    state: task.state,
    exitCode: task.state === 'exited' ? task.exitCode : null,
    oomKilled: task.oomKilled,
    startedAt: task.startedAt,
    finishedAt: task.state === 'exited' ? task.finishedAt : null,
    error: null,
  };
}

function observeError(assignment: Assignment, handleId: string | null, error: DriverError): ObservedTask {
  return { ...observe(assignment, null), handleId, state: 'error', error: { code: error.code, message: error.message.slice(0, 2000) } };
}

/** The driver's view of an assignment; a VM's vCPUs are its whole CPUs (cpuMillis / 1000). */
export function taskSpecOf(assignment: Assignment, nodeId: string): TaskSpec {
  const { spec } = assignment;
  return {
    workloadId: assignment.workloadId,
    tenantId: assignment.tenantId,
    nodeId,
    generation: assignment.generation,
    image: spec.image,
    ...(spec.command ? { command: spec.command } : {}),
    ...(spec.env ? { env: spec.env } : {}),
    resources: spec.resources,
    ...(assignment.pullAuth ? { pullAuth: assignment.pullAuth } : {}),
    ...(spec.readOnlyRootFilesystem ? { readOnlyRootFilesystem: true } : {}),
    ...(spec.vm
      ? {
          vm: {
            vcpus: Math.max(1, Math.floor(spec.resources.cpuMillis / 1000)),
            diskGiB: spec.vm.diskGiB,
            template: spec.image,
            ...(spec.vm.kernelArgs ? { kernelArgs: spec.vm.kernelArgs } : {}),
          },
        }
      : {}),
  };
}
