import { Controller, Inject } from '@nestjs/common';
import type { CreditNoteView, InvoiceList, InvoiceView, ValidRequestOf } from '@gureum/contracts';
import { CommandPayload, OnCommand } from '@gureum/messaging';
import { DataSource } from 'typeorm';
import { CreateCreditNoteUseCase } from './create-credit-note.usecase';
import { FinalizeInvoiceUseCase } from './finalize-invoice.usecase';
import { getInvoice, listInvoices } from './invoice-views';

@Controller()
export class InvoicesController {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(FinalizeInvoiceUseCase) private readonly finalizeInvoice: FinalizeInvoiceUseCase,
    @Inject(CreateCreditNoteUseCase) private readonly createCreditNote: CreateCreditNoteUseCase,
  ) {}

  @OnCommand('billing.cmd.invoice.list.v1')
  list(@CommandPayload('billing.cmd.invoice.list.v1') request: ValidRequestOf<'billing.cmd.invoice.list.v1'>): Promise<InvoiceList> {
    return listInvoices(this.dataSource.manager, request.caller, {
      limit: request.limit,
      ...(request.tenantId ? { tenantId: request.tenantId } : {}),
      ...(request.cursor ? { cursor: request.cursor } : {}),
    });
  }

  @OnCommand('billing.cmd.invoice.get.v1')
  get(@CommandPayload('billing.cmd.invoice.get.v1') request: ValidRequestOf<'billing.cmd.invoice.get.v1'>): Promise<InvoiceView> {
    return getInvoice(this.dataSource.manager, request.caller, request.invoiceId);
  }

  @OnCommand('billing.cmd.invoice.finalize.v1')
  finalize(@CommandPayload('billing.cmd.invoice.finalize.v1') request: ValidRequestOf<'billing.cmd.invoice.finalize.v1'>): Promise<InvoiceView> {
    return this.finalizeInvoice.execute(request.caller, request.invoiceId);
  }

  @OnCommand('billing.cmd.credit-note.create.v1')
  creditNote(@CommandPayload('billing.cmd.credit-note.create.v1') request: ValidRequestOf<'billing.cmd.credit-note.create.v1'>): Promise<CreditNoteView> {
    return this.createCreditNote.execute(request.caller, request.invoiceId, request.amount, request.reason);
  }
}
