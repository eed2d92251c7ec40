import { Inject, Injectable } from '@nestjs/common';
import { Commands, type VmStatusReply } from '@gureum/contracts';
import { Bus } from '@gureum/messaging';
import type { Logger } from '@gureum/runtime';
import { DataSource } from 'typeorm';
import { AfterCommit } from '../common/after-commit';
import { LOGGER, SCHEDULER_SETTINGS, type SchedulerSettings } from '../common/tokens';
import { inTransaction, queryRows, SCHEMA } from '../database/sql';
import { changeWorkload } from '../workloads/workload-store';
import { WorkloadEntity } from '../workloads/workload.entity';
import { commitMigrationClaim, MigrateWorkloadUseCase, releaseMigrationClaim } from './migrate-workload.usecase';

/**
 * A migration's claim older than this can only be one whose scheduler died: the use case
 * itself gives up after prepare (60 s) + transfer (10 min) + boot (60 s).
 */
export const DEFAULT_MIGRATION_RECOVERY_AFTER_MS = 15 * 60_000;
const STATUS_TIMEOUT_MS = 10_000;

export type RecoveryOutcome = 'source' | 'target' | 'lost';

export interface RecoveredMigration {
  workloadId: string;
  sourceHostId: string;
  targetHostId: string;
  outcome: RecoveryOutcome;
}

/** The driver states in which a VM is there and alive (QEMU running it, the guest possibly paused). */
const ALIVE = new Set(['running', 'paused']);

/**
 * Recovers migrations a scheduler crash left behind: a workload still `migrating` whose
 * `migration_claims` row is older than the recovery timeout. Under the workload's row lock
 * (taken SKIP LOCKED, so replicas share the work) it asks the source agent, then the target
 * agent, whether the VM runs there, and settles on what is true:
 *
 * - alive on the source (the transfer never finished, or failed): the target is told to drop
 *   its incoming copy, the reservation on the target is released, `migrating → running` there;
 * - else running on the target (the transfer completed before the crash): the reservation
 *   becomes the claim on the target (the source's claim is released), `hostId` = target,
 *   `migrating → running`;
 * - on neither (or neither answers): the reservation is released, the target told to drop
 *   anything it holds, and the workload goes `lost` on its source (its disk is there).
 *
 * Runs on the host monitor's tick, on every replica.
 */
@Injectable()
export class RecoverMigrationsUseCase {
  constructor(
    private readonly dataSource: DataSource,
    private readonly bus: Bus,
    private readonly afterCommit: AfterCommit,
    private readonly migrations: MigrateWorkloadUseCase,
    @Inject(SCHEDULER_SETTINGS) private readonly settings: SchedulerSettings,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async execute(): Promise<RecoveredMigration[]> {
    const afterMs = this.settings.migrationRecoveryAfterMs ?? DEFAULT_MIGRATION_RECOVERY_AFTER_MS;
    const stale = await queryRows<{ workload_id: string }>(
      this.dataSource.manager,
      `SELECT "workload_id" FROM "${SCHEMA}"."migration_claims" WHERE "created_at" < now() - make_interval(secs => $1::double precision / 1000)
        ORDER BY "created_at" LIMIT 20`,
      [afterMs],
    );
    const recovered: RecoveredMigration[] = [];
    for (const { workload_id: workloadId } of stale) {
      if (this.migrations.inFlight.has(workloadId)) continue;
      const done = await this.recoverOne(workloadId).catch((error: unknown) => {
        this.logger.warn({ err: error, workloadId }, 'migration recovery failed; the next sweep tries again');
        return null;
      });
      if (done) recovered.push(done);
    }
    return recovered;
  }

  private async recoverOne(workloadId: string): Promise<RecoveredMigration | null> {
    const result = await inTransaction(this.dataSource, async (manager) => {
      const workload = await manager.findOne(WorkloadEntity, { where: { id: workloadId }, lock: { mode: 'pessimistic_write', onLocked: 'skip_locked' } });
      const [claim] = await queryRows<{ source_host_id: string; target_host_id: string }>(
        manager,
        `SELECT "source_host_id", "target_host_id" FROM "${SCHEMA}"."migration_claims" WHERE "workload_id" = $1`,
        [workloadId],
      );
      // Locked by someone else, or settled meanwhile: not ours this sweep.
      if (!workload || !claim) return null;
      const { source_host_id: sourceHostId, target_host_id: targetHostId } = claim;
      if (workload.state !== 'migrating') {
        // A claim without a migration (should not happen): only give the reservation back.
        await releaseMigrationClaim(manager, workloadId);
        return { workloadId, sourceHostId, targetHostId, outcome: 'source' as const, note: `stale reservation released (workload ${workload.state})` };
      }
      const onSource = await this.status(sourceHostId, workloadId);
      let outcome: RecoveryOutcome;
      if (onSource !== null && onSource.present && ALIVE.has(onSource.state ?? '')) {
        outcome = 'source';
      } else {
        const onTarget = await this.status(targetHostId, workloadId);
        outcome = onTarget !== null && onTarget.present && onTarget.state === 'running' ? 'target' : 'lost';
      }
      if (outcome === 'target') {
        await commitMigrationClaim(manager, workloadId);
        await changeWorkload(manager, workload, { state: 'running', hostId: targetHostId, reason: 'migration recovered after a scheduler restart: the VM runs on the target' });
      } else {
        await releaseMigrationClaim(manager, workloadId);
        await changeWorkload(
          manager,
          workload,
          outcome === 'source'
            ? { state: 'running', reason: `migration to ${targetHostId} interrupted (scheduler restart); the VM runs on its source` }
            : { state: 'lost', reason: `migration to ${targetHostId} interrupted (scheduler restart) and neither host runs the VM` },
        );
      }
      return { workloadId, sourceHostId, targetHostId, outcome, note: null };
    });
    if (!result) return null;
    const { note, ...recovered } = result;
    if (recovered.outcome !== 'target') {
      // The target may still hold a QEMU waiting for (or holding a stale copy of) the VM.
      await this.bus.request(Commands.agentVmMigrateAbort.subject, { workloadId }, { nodeId: recovered.targetHostId, timeoutMs: STATUS_TIMEOUT_MS }).catch((error: unknown) => {
        this.logger.warn({ err: error, workloadId, targetHostId: recovered.targetHostId }, 'could not tell the target to drop its copy; its reconciler removes it as unowned');
      });
    }
    this.afterCommit.run({ nodesToNudge: [recovered.sourceHostId, recovered.targetHostId], nudgeReason: `workload ${workloadId} migration recovered (${recovered.outcome})`, capacityFreed: true });
    this.logger.warn({ ...recovered, ...(note ? { note } : {}) }, 'interrupted vm migration recovered');
    return recovered;
  }

  /** The agent's answer, or null when it does not answer (host down, no vm driver). */
  private async status(hostId: string, workloadId: string): Promise<VmStatusReply | null> {
    return this.bus.request(Commands.agentVmStatus.subject, { workloadId }, { nodeId: hostId, timeoutMs: STATUS_TIMEOUT_MS }).catch((error: unknown) => {
      this.logger.warn({ err: error, workloadId, hostId }, 'agent did not answer the VM status');
      return null;
    });
  }
}
