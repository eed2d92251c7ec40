import { Inject, Injectable } from '@nestjs/common';
import type { ValidRequestOf, WorkloadView } from '@gureum/contracts';
import type { Logger } from '@gureum/runtime';
import { DataSource } from 'typeorm';
import { AfterCommit } from '../common/after-commit';
import { assertMayModify } from '../common/caller-access';
import { LOGGER } from '../common/tokens';
import { inTransaction, queryRows, SCHEMA } from '../database/sql';
import { releaseClaim } from '../placement/host-claims';
import { workloadInWrongState } from './workload.exception';
import { changeWorkload, lockTenantWorkload } from './workload-store';
import { toWorkloadView } from './workload-view';

export type DeleteWorkloadCommand = ValidRequestOf<'scheduler.cmd.workload.delete.v1'>;

/**
 * Deleting is immediate when no live host holds a task for the workload; otherwise it waits
 * (state `stopping`) until the agent reports the task absent, so resources are released only
 * once they really are free.
 */
@Injectable()
export class DeleteWorkloadUseCase {
  constructor(
    private readonly dataSource: DataSource,
    private readonly afterCommit: AfterCommit,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async execute({ caller, workloadId }: DeleteWorkloadCommand): Promise<WorkloadView> {
    assertMayModify(caller);
    const outcome = await inTransaction(this.dataSource, async (manager) => {
      const current = await lockTenantWorkload(manager, caller.tenantId, workloadId);
      if (current.state === 'deleted' || current.desiredState === 'deleted') return { workload: current, changed: false, released: false };
      if (current.state === 'migrating') throw workloadInWrongState(workloadId, 'delete', current.state);

      const [host] = current.hostId
        ? await queryRows<{ state: string }>(manager, `SELECT "state" FROM "${SCHEMA}"."hosts" WHERE "id" = $1`, [current.hostId])
        : [];
      // An unreachable host probably still runs the task: the delete waits for its agent (or
      // for the end of the grace window, when the host is declared lost and the delete finishes).
      if (host?.state !== 'ready' && host?.state !== 'unreachable') {
        const released = (await releaseClaim(manager, current.id)) !== null;
        const workload = await changeWorkload(manager, current, { state: 'deleted', desiredState: 'deleted', reason: null });
        return { workload, changed: true, released };
      }
      const workload = await changeWorkload(manager, current, { state: 'stopping', desiredState: 'deleted', reason: null });
      return { workload, changed: true, released: false };
    });
    const { workload } = outcome;
    if (outcome.changed) {
      this.afterCommit.run({
        nodesToNudge: workload.state === 'stopping' && workload.hostId ? [workload.hostId] : [],
        nudgeReason: `workload ${workload.id} deleted`,
        capacityFreed: outcome.released,
      });
      this.logger.info({ tenantId: workload.tenantId, workloadId: workload.id, state: workload.state, requestId: caller.requestId }, 'workload delete requested');
    }
    return toWorkloadView(workload);
  }
}
