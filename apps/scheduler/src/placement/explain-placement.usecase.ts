import { Inject, Injectable } from '@nestjs/common';
import type { PlacementExplanation, ValidRequestOf } from '@gureum/contracts';
import { DataSource } from 'typeorm';
import { assertOperator } from '../common/caller-access';
import { SCHEDULER_SETTINGS, type SchedulerSettings } from '../common/tokens';
import { queryRows, SCHEMA } from '../database/sql';
import { workloadNotFound } from '../workloads/workload.exception';
import { WorkloadEntity } from '../workloads/workload.entity';
import { loadHostSnapshots, placementRequestOf } from './host-claims';
import { explainPlacement } from './placement';

/**
 * Operator: runs the filters and scores for a workload against the fleet as it is now, as if
 * the workload were not placed (its own claim and group membership are taken out), so the
 * answer shows both where it is and why, and where it would go today.
 */
@Injectable()
export class ExplainPlacementUseCase {
  constructor(
    private readonly dataSource: DataSource,
    @Inject(SCHEDULER_SETTINGS) private readonly settings: SchedulerSettings,
  ) {}

  async execute({ caller, workloadId }: ValidRequestOf<'scheduler.cmd.placement.explain.v1'>): Promise<PlacementExplanation> {
    assertOperator(caller);
    const manager = this.dataSource.manager;
    const workload = await manager.findOneBy(WorkloadEntity, { id: workloadId });
    if (!workload) throw workloadNotFound(workloadId);
    const request = placementRequestOf(workload);
    const { hosts, affinityPlaced } = await loadHostSnapshots(manager, request, this.settings.placement, { candidatesOnly: false, excludeWorkloadId: workload.id });
    const [claim] = await queryRows<{ host_id: string; cpu_millis: number; memory_mib: number; pids: number }>(
      manager,
      `SELECT "host_id", "cpu_millis", "memory_mib", "pids" FROM "${SCHEMA}"."claims" WHERE "workload_id" = $1`,
      [workload.id],
    );
    const unplaced = hosts.map((host) =>
      claim && host.id === claim.host_id
        ? {
            ...host,
            allocated: {
              cpuMillis: host.allocated.cpuMillis - claim.cpu_millis,
              memoryMiB: host.allocated.memoryMiB - claim.memory_mib,
              pids: host.allocated.pids - claim.pids,
            },
          }
        : host,
    );
    const explanation = explainPlacement(unplaced, request, this.settings.placement, affinityPlaced);
    return { workloadId: workload.id, hostId: workload.hostId, state: workload.state, reason: workload.reason, ...explanation };
  }
}
