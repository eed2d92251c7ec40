import { Body, Controller, Get, Inject, Param, Put } from '@nestjs/common';
import { Commands, type Caller, type OperatorCaller, type PlacementExplanation, type QuotaOverrides, type QuotaView } from '@gureum/contracts';
import { Bus, ContractPipe } from '@gureum/messaging';
import { DataSource } from 'typeorm';
import { Context, OperatorCallerParam, TenantCaller } from '../auth/tenant-caller.decorator';
import type { RequestContext } from '../http/http-context';
import { requireTenant } from '../tenants/require-tenant';
import {
  AdminWorkloadPathSchema,
  QuotaOverridesBodySchema,
  TenantQuotaPathSchema,
  type AdminWorkloadPath,
  type TenantQuotaPath,
} from './quota-http.schemas';

/** Compute quotas and placement explanations (authorised by AccessGuard from API_ROUTES): validate, forward to the scheduler. */
@Controller('v1')
export class QuotasController {
  constructor(
    @Inject(Bus) private readonly bus: Bus,
    @Inject(DataSource) private readonly dataSource: DataSource,
  ) {}

  @Get('quotas')
  own(@TenantCaller() caller: Caller): Promise<QuotaView> {
    return this.bus.request(Commands.quotaGet.subject, { caller });
  }

  @Get('admin/tenants/:id/quotas')
  async ofTenant(@OperatorCallerParam() caller: OperatorCaller, @Param(new ContractPipe(TenantQuotaPathSchema, 'path parameters')) { id }: TenantQuotaPath): Promise<QuotaView> {
    await requireTenant(this.dataSource, id);
    return this.bus.request(Commands.quotaAdminGet.subject, { caller, tenantId: id });
  }

  @Put('admin/tenants/:id/quotas')
  async set(
    @OperatorCallerParam() caller: OperatorCaller,
    @Param(new ContractPipe(TenantQuotaPathSchema, 'path parameters')) { id }: TenantQuotaPath,
    @Body(new ContractPipe(QuotaOverridesBodySchema, 'quota overrides')) overrides: QuotaOverrides,
    @Context() context: RequestContext,
  ): Promise<QuotaView> {
    context.auditTarget = `tenant:${id}`;
    context.auditTenantId = id;
    await requireTenant(this.dataSource, id);
    return this.bus.request(Commands.quotaSet.subject, { caller, tenantId: id, overrides });
  }

  @Get('admin/workloads/:id/placement')
  explain(@OperatorCallerParam() caller: OperatorCaller, @Param(new ContractPipe(AdminWorkloadPathSchema, 'path parameters')) { id }: AdminWorkloadPath): Promise<PlacementExplanation> {
    return this.bus.request(Commands.placementExplain.subject, { caller, workloadId: id });
  }
}
