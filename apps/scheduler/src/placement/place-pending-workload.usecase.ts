import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from '@gureum/runtime';
import { DataSource } from 'typeorm';
import { AfterCommit } from '../common/after-commit';
import { LOGGER, SCHEDULER_SETTINGS, type SchedulerSettings } from '../common/tokens';
import { inTransaction } from '../database/sql';
import { WorkloadEntity } from '../workloads/workload.entity';
import { changeWorkload } from '../workloads/workload-store';
import { claimBestHost } from './host-claims';
import { preemptFor } from './preempt-for';

export type PlacePendingOutcome = 'placed' | 'no_fit' | 'skipped';

/** One placement attempt for one pending workload, in its own transaction. */
@Injectable()
export class PlacePendingWorkloadUseCase {
  constructor(
    private readonly dataSource: DataSource,
    private readonly afterCommit: AfterCommit,
    @Inject(SCHEDULER_SETTINGS) private readonly settings: SchedulerSettings,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async execute(workloadId: string): Promise<PlacePendingOutcome> {
    const outcome = await inTransaction(this.dataSource, async (manager) => {
      // SKIP LOCKED: another replica (or a user command) is already on it; it is not lost,
      // just not ours this round.
      const workload = await manager.findOne(WorkloadEntity, {
        where: { id: workloadId, state: 'pending', desiredState: 'running' },
        lock: { mode: 'pessimistic_write', onLocked: 'skip_locked' },
      });
      if (!workload) return { kind: 'skipped' as const };
      const claim = await claimBestHost(manager, workload, this.settings.placement);
      if (claim.placed) {
        return { kind: 'placed' as const, workload: await changeWorkload(manager, workload, { state: 'scheduled', hostId: claim.hostId, reason: null }), preempted: [] };
      }
      const preempted = await preemptFor(manager, workload, this.settings.placement);
      if (preempted) {
        const placed = await changeWorkload(manager, workload, { state: 'scheduled', hostId: preempted.hostId, reason: null });
        return { kind: 'placed' as const, workload: placed, preempted: preempted.victims.map((victim) => victim.id) };
      }
      // The reason is for the tenant; it is not a state change, so no event.
      if (claim.reason !== workload.reason) await changeWorkload(manager, workload, { reason: claim.reason });
      return { kind: 'no_fit' as const };
    });
    if (outcome.kind === 'placed') {
      const { workload } = outcome;
      this.afterCommit.run({ nodesToNudge: [workload.hostId!], nudgeReason: `workload ${workload.id} scheduled`, capacityFreed: outcome.preempted.length > 0 });
      this.logger.info({ tenantId: workload.tenantId, workloadId: workload.id, hostId: workload.hostId, preempted: outcome.preempted }, 'pending workload placed');
    }
    return outcome.kind;
  }
}
