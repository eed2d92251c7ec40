import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from '@gureum/runtime';
import { DataSource, type EntityManager } from 'typeorm';
import { AfterCommit } from '../common/after-commit';
import { LOGGER, SCHEDULER_SETTINGS, type SchedulerSettings } from '../common/tokens';
import { inTransaction, queryRows, SCHEMA } from '../database/sql';
import { claimBestHost, releaseClaim } from '../placement/host-claims';
import { WorkloadEntity } from '../workloads/workload.entity';
import { changeWorkload } from '../workloads/workload-store';
import { VM_EVACUATOR, type VmEvacuator } from './vm-evacuator';

/** Workloads one pass moves per host at most. */
const DRAIN_BATCH = 100;

/** A task exists or is being created on the host: moving it means re-creating it elsewhere. */
const ACTIVE = new Set(['scheduled', 'starting', 'running', 'paused']);
/** No task runs: the workload only gives its claim back, and a later start places it afresh. */
const PARKED = new Set(['stopped', 'failed', 'lost']);

type Step = { kind: 'moved'; to: string } | { kind: 'parked' } | { kind: 'blocked'; reason: string } | { kind: 'gone' };

export interface DrainPass {
  hostId: string;
  moved: number;
  parked: number;
  blocked: number;
  remaining: number;
}

/**
 * Moves everything off draining hosts, one workload per transaction so a pass never holds
 * many locks. A container is re-created elsewhere with the same id and generation: its claim
 * moves to the target host in one transaction (pending → scheduled there), and the old host's
 * agent, no longer assigned it, removes its copy. A workload nothing can take stays, with the
 * reason in the host's drain progress, and is tried again on the next pass. Safe on every
 * replica: each workload is taken with SKIP LOCKED.
 */
@Injectable()
export class DrainHostsUseCase {
  constructor(
    private readonly dataSource: DataSource,
    private readonly afterCommit: AfterCommit,
    @Inject(VM_EVACUATOR) private readonly vms: VmEvacuator,
    @Inject(SCHEDULER_SETTINGS) private readonly settings: SchedulerSettings,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** One pass over every draining host (or just `hostId`). */
  async execute(hostId?: string): Promise<DrainPass[]> {
    const hosts = await queryRows<{ id: string }>(
      this.dataSource.manager,
      `SELECT "id" FROM "${SCHEMA}"."hosts" WHERE "state" = 'draining' ${hostId === undefined ? '' : 'AND "id" = $1'} ORDER BY "id"`,
      hostId === undefined ? [] : [hostId],
    );
    const passes: DrainPass[] = [];
    for (const host of hosts) passes.push(await this.drainHost(host.id));
    return passes;
  }

  private async drainHost(hostId: string): Promise<DrainPass> {
    // Bounded, so the pass the drain command runs inline answers quickly even for a full
    // host; the monitor's passes take the rest. VMs (which may only block) go last.
    const workloads = await queryRows<{ id: string }>(
      this.dataSource.manager,
      `SELECT "id" FROM "${SCHEMA}"."workloads" WHERE "host_id" = $1 AND "state" <> 'deleted'
        ORDER BY ("kind" = 'vm'), "id" LIMIT ${DRAIN_BATCH}`,
      [hostId],
    );
    const pass: DrainPass = { hostId, moved: 0, parked: 0, blocked: 0, remaining: 0 };
    const blocked: Array<{ workloadId: string; reason: string }> = [];
    for (const { id } of workloads) {
      const step = await this.moveOne(hostId, id);
      if (step.kind === 'moved') pass.moved += 1;
      if (step.kind === 'parked') pass.parked += 1;
      if (step.kind === 'blocked') {
        pass.blocked += 1;
        blocked.push({ workloadId: id, reason: step.reason });
      }
    }
    const [left] = await queryRows<{ n: number }>(
      this.dataSource.manager,
      `UPDATE "${SCHEMA}"."hosts" SET "drain_blocked" = $2::jsonb WHERE "id" = $1 AND "state" = 'draining'
       RETURNING (SELECT count(*)::int FROM "${SCHEMA}"."workloads" WHERE "host_id" = $1 AND "state" <> 'deleted') AS "n"`,
      [hostId, JSON.stringify(blocked)],
    );
    pass.remaining = left?.n ?? 0;
    if (pass.moved + pass.parked > 0) this.logger.info({ ...pass, nodeId: hostId }, 'drain pass moved workloads');
    return pass;
  }

  private async moveOne(hostId: string, workloadId: string): Promise<Step> {
    const result = await inTransaction(this.dataSource, async (manager) => {
      const workload = await manager.findOne(WorkloadEntity, {
        where: { id: workloadId, hostId },
        lock: { mode: 'pessimistic_write', onLocked: 'skip_locked' },
      });
      // Gone, moved, or locked by a user command or another replica: not ours this pass.
      if (!workload || workload.state === 'deleted') return { step: { kind: 'gone' } as Step };
      // Re-check under the workload lock that the drain was not cancelled meanwhile.
      const [host] = await queryRows<{ state: string }>(manager, `SELECT "state" FROM "${SCHEMA}"."hosts" WHERE "id" = $1`, [hostId]);
      if (host?.state !== 'draining') return { step: { kind: 'gone' } as Step };
      return { step: await this.step(manager, workload, hostId) };
    });
    if (result.step.kind === 'moved') {
      this.afterCommit.run({ nodesToNudge: [hostId, result.step.to], nudgeReason: `workload ${workloadId} moved off draining host ${hostId}`, capacityFreed: true });
      this.logger.info({ workloadId, fromHostId: hostId, toHostId: result.step.to }, 'workload moved off draining host');
    } else if (result.step.kind === 'parked') {
      this.afterCommit.run({ nodesToNudge: [hostId], capacityFreed: true });
    }
    return result.step;
  }

  private async step(manager: EntityManager, workload: WorkloadEntity, hostId: string): Promise<Step> {
    if (String(workload.kind) === 'vm') {
      const outcome = await this.vms.evacuate(manager, workload, hostId);
      return outcome.kind === 'moved' ? { kind: 'moved', to: outcome.targetHostId } : outcome;
    }
    if (workload.desiredState === 'running' && ACTIVE.has(workload.state)) return this.recreateElsewhere(manager, workload, hostId);
    if (PARKED.has(workload.state)) {
      await releaseClaim(manager, workload.id);
      await changeWorkload(manager, workload, { hostId: null });
      return { kind: 'parked' };
    }
    // stopping / migrating, or a run the user is stopping: the agent finishes it first.
    return { kind: 'blocked', reason: `waiting for the workload to leave state ${workload.state}` };
  }

  /** Claim on another ready host in one savepoint; if nothing fits, nothing changes. */
  private async recreateElsewhere(manager: EntityManager, workload: WorkloadEntity, hostId: string): Promise<Step> {
    await manager.query('SAVEPOINT "drain_move"');
    await releaseClaim(manager, workload.id);
    const pending = await changeWorkload(manager, workload, { state: 'pending', hostId: null, reason: `host ${hostId} draining` });
    const claim = await claimBestHost(manager, pending, this.settings.placement);
    if (!claim.placed) {
      await manager.query('ROLLBACK TO SAVEPOINT "drain_move"');
      return { kind: 'blocked', reason: claim.reason };
    }
    await changeWorkload(manager, pending, { state: 'scheduled', hostId: claim.hostId, reason: null });
    await manager.query('RELEASE SAVEPOINT "drain_move"');
    return { kind: 'moved', to: claim.hostId };
  }
}
