import { Body, Controller, Get, Inject, Param, Put, Query, StreamableFile } from '@nestjs/common';
import { BudgetInputSchema, Commands, type BudgetInput, type BudgetView, type Caller, type CostView, type CreditsView, type InvoiceList, type InvoiceView } from '@gureum/contracts';
import { Bus, ContractPipe } from '@gureum/messaging';
import { TenantCaller } from '../auth/tenant-caller.decorator';
import { InvoiceListQuerySchema, InvoicePathSchema, type InvoiceListQuery, type InvoicePath } from './billing-http.schemas';
import { invoiceCsv } from './invoice-csv';
import { invoicePdf } from './invoice-pdf';

/** Tenant billing routes: the caller's own invoices, cost, credits and budget; billing re-checks the tenant. */
@Controller('v1')
export class BillingController {
  constructor(@Inject(Bus) private readonly bus: Bus) {}

  @Get('invoices')
  list(@TenantCaller() caller: Caller, @Query(new ContractPipe(InvoiceListQuerySchema, 'query')) query: InvoiceListQuery): Promise<InvoiceList> {
    return this.bus.request(Commands.billingInvoiceList.subject, { caller, limit: query.limit, ...(query.cursor ? { cursor: query.cursor } : {}) });
  }

  @Get('invoices/:id')
  get(@TenantCaller() caller: Caller, @Param(new ContractPipe(InvoicePathSchema, 'path parameters')) { id: invoiceId }: InvoicePath): Promise<InvoiceView> {
    return this.bus.request(Commands.billingInvoiceGet.subject, { caller, invoiceId });
  }

  @Get('invoices/:id/csv')
  async csv(@TenantCaller() caller: Caller, @Param(new ContractPipe(InvoicePathSchema, 'path parameters')) { id: invoiceId }: InvoicePath): Promise<StreamableFile> {
    const invoice = await this.bus.request(Commands.billingInvoiceGet.subject, { caller, invoiceId });
    return new StreamableFile(Buffer.from(invoiceCsv(invoice), 'utf8'), { type: 'text/csv; charset=utf-8', disposition: `attachment; filename="invoice-${invoice.id}.csv"` });
  }

  @Get('invoices/:id/pdf')
  async pdf(@TenantCaller() caller: Caller, @Param(new ContractPipe(InvoicePathSchema, 'path parameters')) { id: invoiceId }: InvoicePath): Promise<StreamableFile> {
    const invoice = await this.bus.request(Commands.billingInvoiceGet.subject, { caller, invoiceId });
    return new StreamableFile(invoicePdf(invoice), { type: 'application/pdf', disposition: `inline; filename="invoice-${invoice.id}.pdf"` });
  }

  @Get('usage/cost')
  cost(@TenantCaller() caller: Caller): Promise<CostView> {
    return this.bus.request(Commands.billingCostGet.subject, { caller }, { timeoutMs: 30_000 });
  }

  @Get('credits')
  credits(@TenantCaller() caller: Caller): Promise<CreditsView> {
    return this.bus.request(Commands.billingCreditsGet.subject, { caller });
  }

  @Get('budget')
  budget(@TenantCaller() caller: Caller): Promise<BudgetView> {
    return this.bus.request(Commands.billingBudgetGet.subject, { caller });
  }

  @Put('budget')
  setBudget(@TenantCaller() caller: Caller, @Body(new ContractPipe(BudgetInputSchema, 'budget')) budget: BudgetInput): Promise<BudgetView> {
    return this.bus.request(Commands.billingBudgetSet.subject, { caller, budget });
  }
}
