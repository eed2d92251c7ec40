import { Inject, Injectable } from '@nestjs/common';
import type { ValidRequestOf, WorkloadView } from '@gureum/contracts';
import type { Logger } from '@gureum/runtime';
import { DataSource } from 'typeorm';
import { AfterCommit } from '../common/after-commit';
import { assertMayModify, assertTenantNotSuspended } from '../common/caller-access';
import { LOGGER, SCHEDULER_SETTINGS, type SchedulerSettings } from '../common/tokens';
import { inTransaction } from '../database/sql';
import { claimBestHost, findClaim, releaseClaim } from '../placement/host-claims';
import { workloadInWrongState } from './workload.exception';
import { changeWorkload, lockTenantWorkload } from './workload-store';
import { toWorkloadView } from './workload-view';

export type StartWorkloadCommand = ValidRequestOf<'scheduler.cmd.workload.start.v1'>;

@Injectable()
export class StartWorkloadUseCase {
  constructor(
    private readonly dataSource: DataSource,
    private readonly afterCommit: AfterCommit,
    @Inject(SCHEDULER_SETTINGS) private readonly settings: SchedulerSettings,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async execute({ caller, workloadId }: StartWorkloadCommand): Promise<WorkloadView> {
    assertMayModify(caller);
    const { workload, changed, capacityFreed } = await inTransaction(this.dataSource, async (manager) => {
      const current = await lockTenantWorkload(manager, caller.tenantId, workloadId);
      await assertTenantNotSuspended(manager, caller.tenantId);
      if (current.desiredState === 'running' && ['pending', 'scheduled', 'starting', 'running'].includes(current.state)) {
        return { workload: current, changed: false, capacityFreed: false };
      }
      if (current.state !== 'stopped' && current.state !== 'failed') throw workloadInWrongState(workloadId, 'start', current.state);

      // A new generation: the agent starts a fresh task instead of looking at the old exit.
      const restart = { desiredState: 'running', generation: current.generation + 1, reason: null, exitCode: null } as const;
      const claim = await findClaim(manager, current.id);
      if (claim?.hostReady) {
        return { workload: await changeWorkload(manager, current, { ...restart, state: 'starting' }), changed: true, capacityFreed: false };
      }
      // No claim (stopped while pending), or its host is lost: place it afresh.
      const released = claim ? (await releaseClaim(manager, current.id)) !== null : false;
      const pending = await changeWorkload(manager, current, { ...restart, state: 'pending', hostId: null });
      const placement = await claimBestHost(manager, pending, this.settings.placement);
      const workload = placement.placed
        ? await changeWorkload(manager, pending, { state: 'scheduled', hostId: placement.hostId })
        : await changeWorkload(manager, pending, { reason: placement.reason });
      return { workload, changed: true, capacityFreed: released };
    });
    if (changed) {
      this.afterCommit.run({ nodesToNudge: workload.hostId ? [workload.hostId] : [], nudgeReason: `workload ${workload.id} started`, capacityFreed });
      this.logger.info(
        { tenantId: workload.tenantId, workloadId: workload.id, state: workload.state, generation: workload.generation, hostId: workload.hostId, requestId: caller.requestId },
        'workload start requested',
      );
    }
    return toWorkloadView(workload);
  }
}
