import { Controller } from '@nestjs/common';
import { Commands, type ReplyOf, type ValidRequestOf } from '@gureum/contracts';
import { CommandPayload, OnCommand } from '@gureum/messaging';
import { ResumeTenantUseCase } from './resume-tenant.usecase';
import { SuspendTenantUseCase } from './suspend-tenant.usecase';

const SUSPEND = Commands.tenantSuspend.subject;
const RESUME = Commands.tenantResume.subject;

/** Operator commands over a whole tenant. The payload schema requires an operator caller. */
@Controller()
export class TenantController {
  constructor(
    private readonly suspendTenant: SuspendTenantUseCase,
    private readonly resumeTenant: ResumeTenantUseCase,
  ) {}

  @OnCommand(SUSPEND)
  suspend(@CommandPayload(SUSPEND) request: ValidRequestOf<typeof SUSPEND>): Promise<ReplyOf<typeof SUSPEND>> {
    return this.suspendTenant.execute(request);
  }

  @OnCommand(RESUME)
  resume(@CommandPayload(RESUME) request: ValidRequestOf<typeof RESUME>): Promise<ReplyOf<typeof RESUME>> {
    return this.resumeTenant.execute(request);
  }
}
