import { Inject, Injectable } from '@nestjs/common';
import type { ObservedTask, StatusReport } from '@gureum/contracts';
import type { Logger } from '@gureum/runtime';
import { DataSource, In, Not, type EntityManager } from 'typeorm';
import { AfterCommit } from '../common/after-commit';
import { LOGGER } from '../common/tokens';
import { inTransaction } from '../database/sql';
import { releaseClaim } from '../placement/host-claims';
import { WorkloadEntity } from '../workloads/workload.entity';
import { changeWorkload } from '../workloads/workload-store';
import { interpretObservation } from './observation';

export interface ApplyStatusReportCommand {
  /** From the subject, which NATS permissions tie to the reporting agent. */
  nodeId: string;
  report: StatusReport;
}

/**
 * Folds an agent's observations into workload state. Agents report everything every few
 * seconds, so the common case changes nothing: observations are first judged on a plain
 * read, and only workloads that would change are locked and judged again.
 */
@Injectable()
export class ApplyStatusReportUseCase {
  constructor(
    private readonly dataSource: DataSource,
    private readonly afterCommit: AfterCommit,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async execute({ nodeId, report }: ApplyStatusReportCommand): Promise<{ applied: number }> {
    const tasks = lastObservationPerWorkload(report.observed);
    if (tasks.size === 0) return { applied: 0 };

    const assigned = await loadAssigned(this.dataSource.manager, nodeId, [...tasks.keys()], false);
    for (const workloadId of tasks.keys()) {
      // Another node's workload, or one that no longer exists: not this agent's business.
      if (!assigned.has(workloadId)) this.logger.debug({ nodeId, workloadId }, 'ignoring observation of a workload not assigned to this node');
    }
    const candidates = [...assigned.values()].filter((workload) => interpretObservation(workload, tasks.get(workload.id)!).kind === 'change');
    if (candidates.length === 0) return { applied: 0 };

    const applied = await inTransaction(this.dataSource, async (manager) => {
      const locked = await loadAssigned(manager, nodeId, candidates.map((workload) => workload.id), true);
      const changed: WorkloadEntity[] = [];
      let released = false;
      for (const workload of locked.values()) {
        const outcome = interpretObservation(workload, tasks.get(workload.id)!);
        if (outcome.kind !== 'change') continue;
        if (outcome.releaseClaim) released = (await releaseClaim(manager, workload.id)) !== null || released;
        changed.push(await changeWorkload(manager, workload, { state: outcome.to, reason: outcome.reason, exitCode: outcome.exitCode }));
      }
      return { changed, released };
    });

    for (const workload of applied.changed) {
      this.logger.info({ nodeId, tenantId: workload.tenantId, workloadId: workload.id, state: workload.state, reason: workload.reason, exitCode: workload.exitCode }, 'workload state observed');
    }
    if (applied.changed.length > 0) this.afterCommit.run({ capacityFreed: applied.released });
    return { applied: applied.changed.length };
  }
}

/** Observations are level-triggered: if a report names a workload twice, the later entry wins. */
function lastObservationPerWorkload(observed: readonly ObservedTask[]): Map<string, ObservedTask> {
  return new Map(observed.map((task) => [task.workloadId, task]));
}

/** Live workloads among `ids` that are placed on `nodeId`, locked (in id order) when asked. */
async function loadAssigned(manager: EntityManager, nodeId: string, ids: string[], lock: boolean): Promise<Map<string, WorkloadEntity>> {
  const workloads = await manager.find(WorkloadEntity, {
    where: { id: In(ids), hostId: nodeId, state: Not('deleted') },
    order: { id: 'ASC' },
    ...(lock ? { lock: { mode: 'pessimistic_write' as const } } : {}),
  });
  return new Map(workloads.map((workload) => [workload.id, workload]));
}
