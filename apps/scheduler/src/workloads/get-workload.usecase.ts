import { Injectable } from '@nestjs/common';
import type { ValidRequestOf, WorkloadView } from '@gureum/contracts';
import { DataSource } from 'typeorm';
import { workloadNotFound } from './workload.exception';
import { toWorkloadView } from './workload-view';
import { WorkloadEntity } from './workload.entity';

export type GetWorkloadCommand = ValidRequestOf<'scheduler.cmd.workload.get.v1'>;

@Injectable()
export class GetWorkloadUseCase {
  constructor(private readonly dataSource: DataSource) {}

  /** Deleted workloads stay readable, so a client can watch a delete finish. */
  async execute({ caller, workloadId }: GetWorkloadCommand): Promise<WorkloadView> {
    const workload = await this.dataSource.manager.findOneBy(WorkloadEntity, { id: workloadId, tenantId: caller.tenantId });
    if (!workload) throw workloadNotFound(workloadId);
    return toWorkloadView(workload);
  }
}
