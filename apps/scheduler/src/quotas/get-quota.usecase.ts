import { Inject, Injectable } from '@nestjs/common';
import type { QuotaView, ValidRequestOf } from '@gureum/contracts';
import { DataSource } from 'typeorm';
import { assertOperator } from '../common/caller-access';
import { SCHEDULER_SETTINGS, type SchedulerSettings } from '../common/tokens';
import { readQuota } from './quota-store';

/** A tenant reads its own quotas; an operator reads any tenant's. */
@Injectable()
export class GetQuotaUseCase {
  constructor(
    private readonly dataSource: DataSource,
    @Inject(SCHEDULER_SETTINGS) private readonly settings: SchedulerSettings,
  ) {}

  own({ caller }: ValidRequestOf<'scheduler.cmd.quota.get.v1'>): Promise<QuotaView> {
    return readQuota(this.dataSource.manager, caller.tenantId, this.settings.defaultQuotas);
  }

  ofTenant({ caller, tenantId }: ValidRequestOf<'scheduler.cmd.quota.admin-get.v1'>): Promise<QuotaView> {
    assertOperator(caller);
    return readQuota(this.dataSource.manager, tenantId, this.settings.defaultQuotas);
  }
}
