import { Controller, Get, Inject, Query } from '@nestjs/common';
import { Commands, type Caller, type OperatorCaller, type UsageReply } from '@gureum/contracts';
import { Bus, ContractPipe } from '@gureum/messaging';
import { OperatorCallerParam, TenantCaller } from '../auth/tenant-caller.decorator';
import { AdminUsageQuerySchema, UsageQuerySchema, type AdminUsageQuery, type UsageQuery } from './usage-http.schemas';

/** Usage routes (authorised by AccessGuard from API_ROUTES): validate, forward to metering, return its answer. */
@Controller('v1')
export class UsageController {
  constructor(@Inject(Bus) private readonly bus: Bus) {}

  @Get('usage')
  own(@TenantCaller() caller: Caller, @Query(new ContractPipe(UsageQuerySchema, 'query')) query: UsageQuery): Promise<UsageReply> {
    return this.bus.request(Commands.usageQuery.subject, { caller, ...query });
  }

  @Get('admin/usage')
  all(@OperatorCallerParam() caller: OperatorCaller, @Query(new ContractPipe(AdminUsageQuerySchema, 'query')) query: AdminUsageQuery): Promise<UsageReply> {
    return this.bus.request(Commands.usageQuery.subject, { caller, ...query });
  }
}
