import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from '@gureum/runtime';
import { DataSource, In } from 'typeorm';
import { AfterCommit } from '../common/after-commit';
import { LOGGER, SCHEDULER_SETTINGS, type SchedulerSettings } from '../common/tokens';
import { inTransaction, queryRows, SCHEMA } from '../database/sql';
import { releaseClaim } from '../placement/host-claims';
import { WorkloadEntity } from '../workloads/workload.entity';
import { changeWorkload } from '../workloads/workload-store';
import { STATES_WITH_TASK_ON_HOST } from '../workloads/workload-state';
import type { HostState } from '../placement/placement';
import { LOSABLE_STATES } from './host-state';
import { recordHostTransition } from './host-store';

export interface LostHosts {
  hostIds: string[];
  workloadsLost: number;
  workloadsDeleted: number;
  /** Restartable containers given back to placement (pending, same id). */
  workloadsReplaced: number;
}

/**
 * Declares hosts lost after `hostLostAfterMissed` heartbeat intervals of silence, together with
 * what ran on them, in one transaction. The flip is a single UPDATE … RETURNING, so with
 * several replicas sweeping at once each host is declared lost by exactly one of them.
 */
@Injectable()
export class MarkLostHostsUseCase {
  constructor(
    private readonly dataSource: DataSource,
    private readonly afterCommit: AfterCommit,
    @Inject(SCHEDULER_SETTINGS) private readonly settings: SchedulerSettings,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async execute(): Promise<LostHosts> {
    const silenceSeconds = (this.settings.heartbeatIntervalMs * this.settings.hostLostAfterMissed) / 1000;
    const result = await inTransaction(this.dataSource, async (manager): Promise<LostHosts & { released: boolean }> => {
      // Maintenance expects silence and a decommissioned host is gone: neither is "lost"; nor is
      // a host just out of maintenance before a full silence period has passed since.
      // What the host was is kept, so an operator's cordon or drain survives its return.
      const hosts = await queryRows<{ id: string; was: HostState }>(
        manager,
        `UPDATE "${SCHEMA}"."hosts" SET "state" = 'lost', "state_before_lost" = "state", "updated_at" = now()
          WHERE "state" IN (${LOSABLE_STATES.map((state) => `'${state}'`).join(', ')}) AND "last_heartbeat_at" < now() - make_interval(secs => $1)
            AND ("left_maintenance_at" IS NULL OR "left_maintenance_at" < now() - make_interval(secs => $1))
          RETURNING "id", "state_before_lost" AS "was"`,
        [silenceSeconds],
      );
      const hostIds = hosts.map((host) => host.id);
      if (hostIds.length === 0) return { hostIds, workloadsLost: 0, workloadsDeleted: 0, workloadsReplaced: 0, released: false };
      for (const host of hosts) await recordHostTransition(manager, host.id, host.was, 'lost', `no heartbeat for ${silenceSeconds}s`);

      const affected = await manager.find(WorkloadEntity, {
        where: { hostId: In(hostIds), state: In([...STATES_WITH_TASK_ON_HOST]) },
        order: { id: 'ASC' },
        lock: { mode: 'pessimistic_write' },
      });
      let workloadsLost = 0;
      let workloadsDeleted = 0;
      let workloadsReplaced = 0;
      for (const workload of affected) {
        // A delete that waited for the agent to remove the task has nobody left to wait for.
        if (workload.desiredState === 'deleted') {
          await releaseClaim(manager, workload.id);
          await changeWorkload(manager, workload, { state: 'deleted', reason: 'host_lost' });
          workloadsDeleted += 1;
          continue;
        }
        const lost = await changeWorkload(manager, workload, { state: 'lost', reason: 'host_lost' });
        workloadsLost += 1;
        // A container meant to run is restartable: it gives up its claim on the silent host and
        // is placed again elsewhere. Its assignment leaves the lost host with the host id, so
        // that host's agent removes its copy if it comes back. (VMs wait for their host.)
        if (workload.desiredState === 'running' && String(workload.kind) === 'container') {
          await releaseClaim(manager, workload.id);
          await changeWorkload(manager, lost, { state: 'pending', hostId: null, reason: `host ${workload.hostId} lost` });
          workloadsReplaced += 1;
        }
      }
      return { hostIds, workloadsLost, workloadsDeleted, workloadsReplaced, released: workloadsDeleted + workloadsReplaced > 0 };
    });

    if (result.hostIds.length > 0) {
      for (const hostId of result.hostIds) this.logger.warn({ nodeId: hostId, silenceSeconds }, 'host lost: no heartbeat');
      this.logger.warn(
        { hostIds: result.hostIds, workloadsLost: result.workloadsLost, workloadsDeleted: result.workloadsDeleted, workloadsReplaced: result.workloadsReplaced },
        'workloads of lost hosts updated',
      );
      this.afterCommit.run({ capacityFreed: result.released });
    }
    return { hostIds: result.hostIds, workloadsLost: result.workloadsLost, workloadsDeleted: result.workloadsDeleted, workloadsReplaced: result.workloadsReplaced };
  }
}
