import { Inject, Injectable } from '@nestjs/common';
import type { TenantSuspensionReply, ValidRequestOf } from '@gureum/contracts';
import type { Logger } from '@gureum/runtime';
import { DataSource } from 'typeorm';
import { AfterCommit } from '../common/after-commit';
import { assertOperator } from '../common/caller-access';
import { LOGGER } from '../common/tokens';
import { inTransaction, queryRows, SCHEMA } from '../database/sql';
import { changeWorkload } from '../workloads/workload-store';
import { WorkloadEntity } from '../workloads/workload.entity';

export type SuspendTenantCommand = ValidRequestOf<'scheduler.cmd.tenant.suspend.v1'>;

/** `unknown`: on an unreachable host, probably still running; the stop waits for its agent like the others. */
const RUNNING_STATES = ['scheduled', 'starting', 'running', 'paused', 'unknown'] as const;

/**
 * Marks the tenant suspended (its creates and starts are refused from now on) and stops every
 * workload it wants running, remembering which ones, so a resume restarts exactly those.
 * Idempotent: a second suspend finds nothing left to stop.
 */
@Injectable()
export class SuspendTenantUseCase {
  constructor(
    private readonly dataSource: DataSource,
    private readonly afterCommit: AfterCommit,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async execute({ caller, tenantId }: SuspendTenantCommand): Promise<TenantSuspensionReply> {
    assertOperator(caller);
    const stopped = await inTransaction(this.dataSource, async (manager) => {
      await queryRows(manager, `INSERT INTO "${SCHEMA}"."suspended_tenants" ("tenant_id", "suspended_by") VALUES ($1, $2) ON CONFLICT DO NOTHING`, [
        tenantId,
        caller.principalId,
      ]);
      const workloads = await manager.find(WorkloadEntity, { where: { tenantId, desiredState: 'running' }, lock: { mode: 'pessimistic_write' }, order: { id: 'ASC' } });
      const changed: WorkloadEntity[] = [];
      for (const workload of workloads) {
        if (workload.deletedAt) continue;
        if (workload.state === 'pending') {
          changed.push(await changeWorkload(manager, workload, { state: 'stopped', desiredState: 'stopped', reason: 'tenant suspended' }));
        } else if ((RUNNING_STATES as readonly string[]).includes(workload.state)) {
          changed.push(await changeWorkload(manager, workload, { state: 'stopping', desiredState: 'stopped', reason: 'tenant suspended' }));
        } else {
          continue;
        }
        await queryRows(manager, `UPDATE "${SCHEMA}"."workloads" SET "stopped_by_suspension" = true WHERE "id" = $1`, [workload.id]);
      }
      return changed;
    });
    const hosts = stopped.map((workload) => workload.hostId).filter((hostId): hostId is string => hostId !== null);
    this.afterCommit.run({ nodesToNudge: hosts, nudgeReason: `tenant ${tenantId} suspended` });
    this.logger.info({ tenantId, workloadsStopped: stopped.length, requestId: caller.requestId, principalId: caller.principalId }, 'tenant suspended');
    return { tenantId, workloadsAffected: stopped.length };
  }
}
