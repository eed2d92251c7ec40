import { Inject, Injectable } from '@nestjs/common';
import type { ValidRequestOf, WorkloadView } from '@gureum/contracts';
import type { Logger } from '@gureum/runtime';
import { DataSource } from 'typeorm';
import { AfterCommit } from '../common/after-commit';
import { assertMayModify } from '../common/caller-access';
import { LOGGER } from '../common/tokens';
import { inTransaction } from '../database/sql';
import { workloadInWrongState } from './workload.exception';
import { changeWorkload, lockTenantWorkload } from './workload-store';
import { toWorkloadView } from './workload-view';

export type StopWorkloadCommand = ValidRequestOf<'scheduler.cmd.workload.stop.v1'>;

/**
 * Stops a workload and keeps its claim (as Nova keeps a stopped instance's resources), so a
 * later start finds its host again.
 */
@Injectable()
export class StopWorkloadUseCase {
  constructor(
    private readonly dataSource: DataSource,
    private readonly afterCommit: AfterCommit,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async execute({ caller, workloadId }: StopWorkloadCommand): Promise<WorkloadView> {
    assertMayModify(caller);
    const { workload, changed } = await inTransaction(this.dataSource, async (manager) => {
      const current = await lockTenantWorkload(manager, caller.tenantId, workloadId);
      switch (current.state) {
        case 'stopped':
          return { workload: current, changed: false };
        case 'stopping':
          if (current.desiredState === 'stopped') return { workload: current, changed: false };
          throw workloadInWrongState(workloadId, 'stop', current.state, 'being deleted');
        case 'pending': // nothing runs anywhere yet
          return { workload: await changeWorkload(manager, current, { state: 'stopped', desiredState: 'stopped', reason: null }), changed: true };
        case 'scheduled':
        case 'starting':
        case 'running':
        case 'paused':
        case 'unknown': // its host is unreachable: the stop waits for the agent (or the end of the grace window)
          return { workload: await changeWorkload(manager, current, { state: 'stopping', desiredState: 'stopped', reason: null }), changed: true };
        default:
          throw workloadInWrongState(workloadId, 'stop', current.state);
      }
    });
    if (changed) {
      this.afterCommit.run({ nodesToNudge: workload.hostId ? [workload.hostId] : [], nudgeReason: `workload ${workload.id} stopped` });
      this.logger.info({ tenantId: workload.tenantId, workloadId: workload.id, state: workload.state, requestId: caller.requestId }, 'workload stop requested');
    }
    return toWorkloadView(workload);
  }
}
