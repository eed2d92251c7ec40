import { Inject, Injectable } from '@nestjs/common';
import type { Assignment, AssignmentsReply, RegistryAuth, ReleasedTask } from '@gureum/contracts';
import type { Logger } from '@gureum/runtime';
import { DataSource, In, Not } from 'typeorm';
import { LOGGER } from '../common/tokens';
import { RegistryTokens } from '../images/registry-tokens';
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
      ...(workload.readOnlyRootFilesystem ? { readOnlyRootFilesystem: true } : {}),
    },
  };
}

/** States in which the agent may still have to create the task, and so pull its image. */
const MAY_PULL = new Set(['pending', 'scheduled', 'starting', 'stopped', 'failed']);

/** The desired state of one node: every workload placed there that is not deleted yet. */
@Injectable()
export class ListAssignmentsUseCase {
  constructor(
    private readonly dataSource: DataSource,
    private readonly registryTokens: RegistryTokens,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** `held`: workloads the agent has a task for that its last answer did not list (see `released`). */
  async execute(nodeId: string, held: readonly string[] = []): Promise<AssignmentsReply> {
    const workloads = await this.dataSource.manager.find(WorkloadEntity, {
      where: { hostId: nodeId, state: Not('deleted') },
      order: { createdAt: 'ASC', id: 'ASC' },
    });
    const pullAuth = await this.pullAuths(workloads);
    const assigned = new Set(workloads.map((workload) => workload.id));
    const released = await this.released(nodeId, held.filter((id) => !assigned.has(id)));
    return {
      nodeId,
      ...(held.length > 0 ? { released } : {}),
      assignments: workloads.map((workload) => ({
        workloadId: workload.id,
        tenantId: workload.tenantId,
        generation: workload.generation,
        desiredState: workload.desiredState,
        ...assignmentSpecOf(workload),
        ...(pullAuth.has(workload.id) ? { pullAuth: pullAuth.get(workload.id) } : {}),
      })),
    };
  }

  /**
   * Which held tasks the node may remove: the workload is deleted, placed on another host, or
   * unknown. One with no host (waiting for placement, perhaps back onto this node) is kept.
   */
  private async released(nodeId: string, held: readonly string[]): Promise<ReleasedTask[]> {
    if (held.length === 0) return [];
    const rows = await this.dataSource.manager.find(WorkloadEntity, { where: { id: In([...held]) }, select: { id: true, state: true, hostId: true } });
    const byId = new Map(rows.map((row) => [row.id, row]));
    const released: ReleasedTask[] = [];
    for (const workloadId of held) {
      const row = byId.get(workloadId);
      if (!row) released.push({ workloadId, reason: 'unknown' });
      else if (row.state === 'deleted') released.push({ workloadId, reason: 'deleted' });
      else if (row.hostId !== null && row.hostId !== nodeId) released.push({ workloadId, reason: 'moved' });
    }
    return released;
  }

  /**
   * Pull tokens for the workloads whose task may still need its image. A refused or failed
   * token request leaves the assignment without one: the agent's pull then fails and the
   * workload reports why, instead of every other assignment of the node failing too.
   */
  private async pullAuths(workloads: readonly WorkloadEntity[]): Promise<Map<string, RegistryAuth>> {
    const result = new Map<string, RegistryAuth>();
    for (const workload of workloads) {
      if (workload.desiredState !== 'running' || !MAY_PULL.has(workload.state)) continue;
      try {
        const auth = await this.registryTokens.pullAuth(workload.tenantId, workload.image);
        if (auth) result.set(workload.id, auth);
      } catch (error) {
        this.logger.warn({ err: error, workloadId: workload.id, tenantId: workload.tenantId, image: workload.image }, 'no pull token for assignment');
      }
    }
    return result;
  }
}
