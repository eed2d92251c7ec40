import { Injectable } from '@nestjs/common';
import type { ValidRequestOf, WorkloadView } from '@gureum/contracts';
import { DataSource } from 'typeorm';
import { assertOperator } from '../common/caller-access';
import { workloadNotFound } from './workload.exception';
import { toWorkloadView } from './workload-view';
import { WorkloadEntity } from './workload.entity';

export type AdminGetWorkloadCommand = ValidRequestOf<'scheduler.cmd.admin.workload.get.v1'>;

/** Operators: any tenant's workload, deleted ones included. */
@Injectable()
export class AdminGetWorkloadUseCase {
  constructor(private readonly dataSource: DataSource) {}

  async execute({ caller, workloadId }: AdminGetWorkloadCommand): Promise<WorkloadView> {
    assertOperator(caller);
    const workload = await this.dataSource.manager.findOneBy(WorkloadEntity, { id: workloadId });
    if (!workload) throw workloadNotFound(workloadId);
    return toWorkloadView(workload);
  }
}
