import { Controller } from '@nestjs/common';
import { Commands, type ReplyOf, type ValidRequestOf } from '@gureum/contracts';
import { CommandPayload, OnCommand } from '@gureum/messaging';
import { GetQuotaUseCase } from './get-quota.usecase';
import { SetTenantQuotaUseCase } from './set-tenant-quota.usecase';

const GET = Commands.quotaGet.subject;
const ADMIN_GET = Commands.quotaAdminGet.subject;
const SET = Commands.quotaSet.subject;

/** Compute quota commands from the api (tenant reads its own; operators read and set any tenant's). */
@Controller()
export class QuotaController {
  constructor(
    private readonly getQuota: GetQuotaUseCase,
    private readonly setTenantQuota: SetTenantQuotaUseCase,
  ) {}

  @OnCommand(GET)
  own(@CommandPayload(GET) request: ValidRequestOf<typeof GET>): Promise<ReplyOf<typeof GET>> {
    return this.getQuota.own(request);
  }

  @OnCommand(ADMIN_GET)
  ofTenant(@CommandPayload(ADMIN_GET) request: ValidRequestOf<typeof ADMIN_GET>): Promise<ReplyOf<typeof ADMIN_GET>> {
    return this.getQuota.ofTenant(request);
  }

  @OnCommand(SET)
  set(@CommandPayload(SET) request: ValidRequestOf<typeof SET>): Promise<ReplyOf<typeof SET>> {
    return this.setTenantQuota.execute(request);
  }
}
