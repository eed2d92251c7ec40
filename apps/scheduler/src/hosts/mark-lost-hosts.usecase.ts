import { Inject, Injectable } from '@nestjs/common';
import { isDependencyUnavailable } from '@gureum/contracts';
import type { Logger } from '@gureum/runtime';
import { DataSource, In, type EntityManager } from 'typeorm';
import { AfterCommit } from '../common/after-commit';
import { LOGGER, SCHEDULER_SETTINGS, type SchedulerSettings } from '../common/tokens';
import { inTransaction, queryRows, SCHEMA } from '../database/sql';
import { releaseClaim } from '../placement/host-claims';
import { WorkloadEntity } from '../workloads/workload.entity';
import { changeWorkload } from '../workloads/workload-store';
import { STATES_UNKNOWN_WHEN_UNREACHABLE, STATES_WITH_TASK_ON_HOST } from '../workloads/workload-state';
import type { HostState } from '../placement/placement';
import { HeartbeatReceipts } from './heartbeat-receipts';
import { LOSABLE_STATES } from './host-state';
import { recordHostTransition } from './host-store';

export interface LostHosts {
  /** Hosts that went silent this sweep (`→ unreachable`). */
  unreachableHostIds: string[];
  /** Their workloads, now `unknown` (placement and claims kept). */
  workloadsUnknown: number;
  /** Hosts still silent at the end of the grace window (`unreachable → lost`). */
  hostIds: string[];
  workloadsLost: number;
  workloadsDeleted: number;
  /** Restartable containers given back to placement (pending, same id). */
  workloadsReplaced: number;
  /** Why this replica judged nobody this time (it cannot vouch for having heard everything yet), if it did not. */
  abstained?: 'recently_blind';
}

/** The silence thresholds, in milliseconds, from the settings. */
export function silenceWindows(settings: Pick<SchedulerSettings, 'heartbeatIntervalMs' | 'hostLostAfterMissed' | 'disconnectGraceMs'>): { unreachableAfterMs: number; lostAfterMs: number } {
  const unreachableAfterMs = settings.heartbeatIntervalMs * settings.hostLostAfterMissed;
  return { unreachableAfterMs, lostAfterMs: unreachableAfterMs + settings.disconnectGraceMs };
}

/**
 * Disconnected is not dead (Nomad's `disconnect` block). A host silent for
 * `heartbeatIntervalMs × hostLostAfterMissed` becomes `unreachable`: no new placements, its
 * workloads `unknown` with their placement and claims kept — its agent's assignments do not
 * change, so a host that returns is adopted with nothing restarted. Only a host still silent
 * `disconnectGraceMs` later is `lost`, and its restartable containers are re-placed (by then
 * its agent has fenced itself: `GUREUM_AGENT_FENCE_AFTER_MS`, the same window).
 *
 * Silence is judged on heartbeats received (`HeartbeatReceipts`): a host this replica heard
 * recently is never silent, and a replica that may have missed recording heartbeats (just
 * started, or its database was unreachable) judges nobody for a whole threshold.
 *
 * Each flip is a single UPDATE … RETURNING, so with several replicas sweeping at once each host
 * changes state through exactly one of them; the workloads follow in the same transaction.
 */
@Injectable()
export class MarkLostHostsUseCase {
  constructor(
    private readonly dataSource: DataSource,
    private readonly afterCommit: AfterCommit,
    private readonly receipts: HeartbeatReceipts,
    @Inject(SCHEDULER_SETTINGS) private readonly settings: SchedulerSettings,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async execute(): Promise<LostHosts> {
    const { unreachableAfterMs, lostAfterMs } = silenceWindows(this.settings);
    const none: LostHosts = { unreachableHostIds: [], workloadsUnknown: 0, hostIds: [], workloadsLost: 0, workloadsDeleted: 0, workloadsReplaced: 0 };
    if (this.receipts.mayJudgeIn(unreachableAfterMs) > 0) return { ...none, abstained: 'recently_blind' };
    const heard = this.receipts.heardWithin(unreachableAfterMs);
    try {
      const unreachable = await this.markUnreachable(unreachableAfterMs, heard);
      const lost = await this.markLost(unreachableAfterMs, lostAfterMs, heard);
      return { ...unreachable, ...lost };
    } catch (error) {
      // Whatever heartbeats arrived meanwhile may not be written: judge nobody until they are.
      if (isDependencyUnavailable(error)) this.receipts.databaseFailed();
      throw error;
    }
  }

  private async markUnreachable(afterMs: number, heard: string[]): Promise<Pick<LostHosts, 'unreachableHostIds' | 'workloadsUnknown'>> {
    const silenceSeconds = afterMs / 1000;
    const result = await inTransaction(this.dataSource, async (manager) => {
      // Maintenance expects silence and a decommissioned host is gone: neither goes unreachable;
      // nor does a host just out of maintenance before a full silence period has passed since.
      // What the host was is kept, so an operator's cordon or drain survives its return.
      const hosts = await flipSilentHosts(
        manager,
        `"state" IN (${LOSABLE_STATES.map((state) => `'${state}'`).join(', ')})`,
        `'unreachable', "state_before_lost" = "state", "unreachable_since" = now()`,
        afterMs,
        heard,
        `"state_before_lost"`,
      );
      if (hosts.length === 0) return { unreachableHostIds: [], workloadsUnknown: 0 };
      for (const host of hosts) await recordHostTransition(manager, host.id, host.was, 'unreachable', `no heartbeat for ${silenceSeconds}s`);
      const affected = await manager.find(WorkloadEntity, {
        where: { hostId: In(hosts.map((host) => host.id)), state: In([...STATES_UNKNOWN_WHEN_UNREACHABLE]) },
        order: { id: 'ASC' },
        lock: { mode: 'pessimistic_write' },
      });
      for (const workload of affected) await changeWorkload(manager, workload, { state: 'unknown', reason: 'host_unreachable' });
      return { unreachableHostIds: hosts.map((host) => host.id), workloadsUnknown: affected.length };
    });
    for (const nodeId of result.unreachableHostIds) this.logger.warn({ nodeId, silenceSeconds, graceSeconds: this.settings.disconnectGraceMs / 1000 }, 'host unreachable: no heartbeat; its workloads are unknown until it returns or the grace window ends');
    return result;
  }

  private async markLost(unreachableAfterMs: number, lostAfterMs: number, heard: string[]): Promise<Pick<LostHosts, 'hostIds' | 'workloadsLost' | 'workloadsDeleted' | 'workloadsReplaced'>> {
    const silenceSeconds = lostAfterMs / 1000;
    const result = await inTransaction(this.dataSource, async (manager) => {
      // The whole window since it went unreachable, and silent all along: a row that was stale
      // already (an outage of the control plane's own) does not shorten the window.
      const hosts = await flipSilentHosts(
        manager,
        `"state" = 'unreachable' AND "unreachable_since" < now() - make_interval(secs => ${Number(this.settings.disconnectGraceMs) / 1000})`,
        `'lost'`,
        lostAfterMs,
        heard,
        `'unreachable'`,
      );
      const hostIds = hosts.map((host) => host.id);
      if (hostIds.length === 0) return { hostIds, workloadsLost: 0, workloadsDeleted: 0, workloadsReplaced: 0, released: false };
      const reason = `no heartbeat for ${silenceSeconds}s (unreachable after ${unreachableAfterMs / 1000}s, then the ${this.settings.disconnectGraceMs / 1000}s grace window)`;
      for (const host of hosts) await recordHostTransition(manager, host.id, 'unreachable', 'lost', reason);

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
        // that host's agent removes its copy if it comes back (it has fenced it by then). VMs
        // wait for their host: their disk is there.
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

/**
 * Flips the hosts matching `stateCondition` that have been silent for `silentForMs` — by the
 * row and by this replica's own receipts — to `set`, returning what each was.
 */
function flipSilentHosts(manager: EntityManager, stateCondition: string, set: string, silentForMs: number, heard: string[], was: string): Promise<Array<{ id: string; was: HostState }>> {
  return queryRows<{ id: string; was: HostState }>(
    manager,
    `UPDATE "${SCHEMA}"."hosts" SET "state" = ${set}, "updated_at" = now()
      WHERE ${stateCondition} AND "last_heartbeat_at" < now() - make_interval(secs => $1)
        AND ("left_maintenance_at" IS NULL OR "left_maintenance_at" < now() - make_interval(secs => $1))
        AND NOT ("id" = ANY($2::text[]))
      RETURNING "id", ${was} AS "was"`,
    [silentForMs / 1000, heard],
  );
}
