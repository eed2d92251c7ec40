import { Inject, Injectable } from '@nestjs/common';
import { ErrorCode, GureumError, type TenantSuspensionReply, type ValidRequestOf } from '@gureum/contracts';
import type { Logger } from '@gureum/runtime';
import { DataSource } from 'typeorm';
import { assertOperator } from '../common/caller-access';
import { LOGGER } from '../common/tokens';
import { queryRows, SCHEMA } from '../database/sql';
import { StartWorkloadUseCase } from '../workloads/start-workload.usecase';

export type ResumeTenantCommand = ValidRequestOf<'scheduler.cmd.tenant.resume.v1'>;

/**
 * Lifts the suspension and restarts exactly the workloads it stopped (not the ones the tenant
 * had stopped itself). A workload still `stopping` cannot start yet: it stays marked and the
 * command fails with invalid_state, so the api keeps the tenant suspended and a retry
 * finishes the job. Idempotent.
 */
@Injectable()
export class ResumeTenantUseCase {
  constructor(
    private readonly dataSource: DataSource,
    private readonly startWorkload: StartWorkloadUseCase,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async execute({ caller, tenantId }: ResumeTenantCommand): Promise<TenantSuspensionReply> {
    assertOperator(caller);
    const manager = this.dataSource.manager;
    await queryRows(manager, `DELETE FROM "${SCHEMA}"."suspended_tenants" WHERE "tenant_id" = $1`, [tenantId]);
    const marked = await queryRows<{ id: string }>(
      manager,
      `SELECT "id" FROM "${SCHEMA}"."workloads" WHERE "tenant_id" = $1 AND "stopped_by_suspension" AND "deleted_at" IS NULL ORDER BY "id"`,
      [tenantId],
    );
    let restarted = 0;
    const notYet: string[] = [];
    for (const { id } of marked) {
      try {
        // The operator acts for the tenant here; the start use case still scopes by tenant.
        await this.startWorkload.execute({ caller: { principalId: caller.principalId, tenantId, role: 'owner', requestId: caller.requestId }, workloadId: id });
      } catch (error) {
        if (error instanceof GureumError && error.code === ErrorCode.InvalidState) {
          notYet.push(id);
          continue;
        }
        throw error;
      }
      await queryRows(manager, `UPDATE "${SCHEMA}"."workloads" SET "stopped_by_suspension" = false WHERE "id" = $1`, [id]);
      restarted += 1;
    }
    // Deleted while suspended: nothing to restart, so nothing to remember.
    await queryRows(manager, `UPDATE "${SCHEMA}"."workloads" SET "stopped_by_suspension" = false WHERE "tenant_id" = $1 AND "deleted_at" IS NOT NULL AND "stopped_by_suspension"`, [
      tenantId,
    ]);
    this.logger.info({ tenantId, restarted, notYet: notYet.length, requestId: caller.requestId, principalId: caller.principalId }, 'tenant resumed');
    if (notYet.length > 0) {
      throw new GureumError(ErrorCode.InvalidState, `${notYet.length} workload(s) are still stopping; resume again once they have stopped`, { workloadIds: notYet });
    }
    return { tenantId, workloadsAffected: restarted };
  }
}
