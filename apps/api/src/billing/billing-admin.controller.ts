import { Body, Controller, Get, HttpCode, Inject, Param, Post, Put, Query } from '@nestjs/common';
import {
  Commands,
  PlanInputSchema,
  type BillingSummary,
  type CreditNoteView,
  type CreditsView,
  type InvoiceList,
  type InvoiceView,
  type OperatorCaller,
  type PlanAssignment,
  type PlanInput,
  type PlanView,
} from '@gureum/contracts';
import { Bus, ContractPipe } from '@gureum/messaging';
import { DataSource } from 'typeorm';
import { OperatorCallerParam } from '../auth/tenant-caller.decorator';
import { requireTenant } from '../tenants/require-tenant';
import { TenantPathSchema, type TenantPath } from '../tenants/tenant-http.schemas';
import {
  AdminInvoiceListQuerySchema,
  AssignPlanBodySchema,
  BillingSummaryQuerySchema,
  CreditNoteBodySchema,
  GrantCreditsBodySchema,
  InvoicePathSchema,
  type AdminInvoiceListQuery,
  type AssignPlanBody,
  type BillingSummaryQuery,
  type CreditNoteBody,
  type GrantCreditsBody,
  type InvoicePath,
} from './billing-http.schemas';

/** Operator billing routes (authorised by AccessGuard from API_ROUTES): validate, forward to billing. */
@Controller('v1/admin')
export class BillingAdminController {
  constructor(
    @Inject(Bus) private readonly bus: Bus,
    @Inject(DataSource) private readonly dataSource: DataSource,
  ) {}

  @Get('plans')
  listPlans(@OperatorCallerParam() caller: OperatorCaller): Promise<{ items: PlanView[] }> {
    return this.bus.request(Commands.billingPlanList.subject, { caller });
  }

  @Post('plans')
  @HttpCode(201)
  createPlan(@OperatorCallerParam() caller: OperatorCaller, @Body(new ContractPipe(PlanInputSchema, 'plan')) plan: PlanInput): Promise<PlanView> {
    return this.bus.request(Commands.billingPlanCreate.subject, { caller, plan });
  }

  @Put('tenants/:id/plan')
  async assignPlan(
    @OperatorCallerParam() caller: OperatorCaller,
    @Param(new ContractPipe(TenantPathSchema, 'path parameters')) { id: tenantId }: TenantPath,
    @Body(new ContractPipe(AssignPlanBodySchema, 'plan assignment')) body: AssignPlanBody,
  ): Promise<PlanAssignment> {
    await requireTenant(this.dataSource, tenantId);
    return this.bus.request(Commands.billingPlanAssign.subject, { caller, tenantId, planId: body.planId, ...(body.effectiveFrom ? { effectiveFrom: body.effectiveFrom } : {}) });
  }

  @Get('invoices')
  listInvoices(@OperatorCallerParam() caller: OperatorCaller, @Query(new ContractPipe(AdminInvoiceListQuerySchema, 'query')) query: AdminInvoiceListQuery): Promise<InvoiceList> {
    return this.bus.request(Commands.billingInvoiceList.subject, {
      caller,
      limit: query.limit,
      ...(query.tenantId ? { tenantId: query.tenantId } : {}),
      ...(query.cursor ? { cursor: query.cursor } : {}),
    });
  }

  @Post('invoices/:id/finalize')
  @HttpCode(200)
  finalize(@OperatorCallerParam() caller: OperatorCaller, @Param(new ContractPipe(InvoicePathSchema, 'path parameters')) { id: invoiceId }: InvoicePath): Promise<InvoiceView> {
    return this.bus.request(Commands.billingInvoiceFinalize.subject, { caller, invoiceId });
  }

  @Post('invoices/:id/credit-notes')
  @HttpCode(201)
  creditNote(
    @OperatorCallerParam() caller: OperatorCaller,
    @Param(new ContractPipe(InvoicePathSchema, 'path parameters')) { id: invoiceId }: InvoicePath,
    @Body(new ContractPipe(CreditNoteBodySchema, 'credit note')) body: CreditNoteBody,
  ): Promise<CreditNoteView> {
    return this.bus.request(Commands.billingCreditNoteCreate.subject, { caller, invoiceId, amount: body.amount, reason: body.reason });
  }

  @Post('tenants/:id/credits')
  @HttpCode(200)
  async grantCredits(
    @OperatorCallerParam() caller: OperatorCaller,
    @Param(new ContractPipe(TenantPathSchema, 'path parameters')) { id: tenantId }: TenantPath,
    @Body(new ContractPipe(GrantCreditsBodySchema, 'credits')) body: GrantCreditsBody,
  ): Promise<CreditsView> {
    await requireTenant(this.dataSource, tenantId);
    return this.bus.request(Commands.billingCreditsGrant.subject, { caller, tenantId, amount: body.amount });
  }

  @Get('billing/summary')
  summary(@OperatorCallerParam() caller: OperatorCaller, @Query(new ContractPipe(BillingSummaryQuerySchema, 'query')) query: BillingSummaryQuery): Promise<BillingSummary> {
    return this.bus.request(Commands.billingSummary.subject, { caller, ...(query.currency ? { currency: query.currency } : {}) });
  }
}
