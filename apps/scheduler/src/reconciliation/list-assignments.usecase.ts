import { Injectable } from '@nestjs/common';
import type { Assignment, AssignmentsReply } from '@gureum/contracts';
import { DataSource, Not } from 'typeorm';
import { WorkloadEntity } from '../workloads/workload.entity';

/** The driver and spec part of an assignment (also sent to a migration's destination). */
export function assignmentSpecOf(workload: WorkloadEntity): Pick<Assignment, 'driver' | 'spec'> {
  return {
    driver: workload.kind === 'vm' ? 'vm' : 'docker',
    spec: {
      image: workload.image,
      command: workload.command,
      env: workload.env,
      resources: { cpuMillis: workload.cpuMillis, memoryMiB: workload.memoryMiB, pids: workload.pids },
      ...(workload.vm ? { vm: workload.vm } : {}),
    },
  };
}

/** The desired state of one node: every workload placed there that is not deleted yet. */
@Injectable()
export class ListAssignmentsUseCase {
  constructor(private readonly dataSource: DataSource) {}

  async execute(nodeId: string): Promise<AssignmentsReply> {
    const workloads = await this.dataSource.manager.find(WorkloadEntity, {
      where: { hostId: nodeId, state: Not('deleted') },
      order: { createdAt: 'ASC', id: 'ASC' },
    });
    return {
      nodeId,
      assignments: workloads.map((workload) => ({
        workloadId: workload.id,
        tenantId: workload.tenantId,
        generation: workload.generation,
        desiredState: workload.desiredState,
        ...assignmentSpecOf(workload),
      })),
    };
  }
}
