import { Inject, Injectable } from '@nestjs/common';
import type { QuotaView, ValidRequestOf } from '@gureum/contracts';
import type { Logger } from '@gureum/runtime';
import { DataSource } from 'typeorm';
import { assertOperator } from '../common/caller-access';
import { LOGGER, SCHEDULER_SETTINGS, type SchedulerSettings } from '../common/tokens';
import { inTransaction } from '../database/sql';
import { readQuota, setQuotaOverrides } from './quota-store';

/**
 * An operator overrides (or resets) a tenant's compute quotas. Lowering a limit below current
 * use is allowed: nothing running is stopped, further creates are refused until use drops.
 */
@Injectable()
export class SetTenantQuotaUseCase {
  constructor(
    private readonly dataSource: DataSource,
    @Inject(SCHEDULER_SETTINGS) private readonly settings: SchedulerSettings,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async execute({ caller, tenantId, overrides }: ValidRequestOf<'scheduler.cmd.quota.set.v1'>): Promise<QuotaView> {
    assertOperator(caller);
    const view = await inTransaction(this.dataSource, async (manager) => {
      await setQuotaOverrides(manager, tenantId, overrides, caller.principalId);
      return readQuota(manager, tenantId, this.settings.defaultQuotas);
    });
    this.logger.info({ tenantId, overrides, limits: view.limits, principalId: caller.principalId, requestId: caller.requestId }, 'tenant quotas changed');
    return view;
  }
}
