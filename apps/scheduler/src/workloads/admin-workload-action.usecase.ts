import { Injectable } from '@nestjs/common';
import type { Caller, OperatorCaller, WorkloadView } from '@gureum/contracts';
import { DataSource } from 'typeorm';
import { assertOperator } from '../common/caller-access';
import { DeleteWorkloadUseCase } from './delete-workload.usecase';
import { StartWorkloadUseCase } from './start-workload.usecase';
import { StopWorkloadUseCase } from './stop-workload.usecase';
import { workloadNotFound } from './workload.exception';
import { WorkloadEntity } from './workload.entity';

export type AdminWorkloadAction = 'stop' | 'start' | 'delete';

/**
 * An operator stopping, starting or deleting any tenant's workload goes through the very use
 * case the tenant's own request would, acting with the owner's rights inside the workload's
 * tenant: one state machine, one set of rules (a suspended tenant's workload still does not
 * start). The operator's principal id travels along, so logs name who did it; the api's audit
 * trail records the operator too.
 */
@Injectable()
export class AdminWorkloadActionUseCase {
  constructor(
    private readonly dataSource: DataSource,
    private readonly stopWorkload: StopWorkloadUseCase,
    private readonly startWorkload: StartWorkloadUseCase,
    private readonly deleteWorkload: DeleteWorkloadUseCase,
  ) {}

  async execute(action: AdminWorkloadAction, { caller, workloadId }: { caller: OperatorCaller; workloadId: string }): Promise<WorkloadView> {
    assertOperator(caller);
    const workload = await this.dataSource.manager.findOne(WorkloadEntity, { where: { id: workloadId }, select: { id: true, tenantId: true } });
    if (!workload) throw workloadNotFound(workloadId);
    const onBehalf: Caller = { principalId: caller.principalId, tenantId: workload.tenantId, role: 'owner', requestId: caller.requestId };
    const request = { caller: onBehalf, workloadId };
    switch (action) {
      case 'stop':
        return this.stopWorkload.execute(request);
      case 'start':
        return this.startWorkload.execute(request);
      case 'delete':
        return this.deleteWorkload.execute(request);
    }
  }
}
