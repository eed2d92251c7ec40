import { Controller, Inject } from '@nestjs/common';
import { CommandPayload, OnCommand } from '@gureum/messaging';
import type { UsageReply } from '@gureum/contracts';
import { QueryUsageUseCase, type UsageQuery } from './query-usage.usecase';

@Controller()
export class UsageController {
  constructor(@Inject(QueryUsageUseCase) private readonly queryUsage: QueryUsageUseCase) {}

  @OnCommand('metering.cmd.usage.query.v1')
  query(@CommandPayload('metering.cmd.usage.query.v1') query: UsageQuery): Promise<UsageReply> {
    return this.queryUsage.execute(query);
  }
}
