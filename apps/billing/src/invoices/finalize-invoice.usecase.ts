import { ErrorCode, GureumError, type InvoiceView, type OperatorCaller } from '@gureum/contracts';
import type { DataSource } from 'typeorm';
import { queryRows, T } from '../database/sql';
import type { InvoiceWriter } from './invoice-writer';
import { getInvoice } from './invoice-views';

/**
 * Operator: finalise a draft now instead of waiting out the grace period. Only once its period
 * has ended (an open period still collects usage); finalising a finalised invoice returns it
 * unchanged.
 */
export class FinalizeInvoiceUseCase {
  constructor(
    private readonly dataSource: DataSource,
    private readonly writer: InvoiceWriter,
    private readonly clock: () => Date,
  ) {}

  async execute(caller: OperatorCaller, invoiceId: string): Promise<InvoiceView> {
    const [row] = await queryRows<{ tenant_id: string; period_start: Date; period_end: Date; status: string }>(
      this.dataSource.manager,
      `SELECT tenant_id, period_start, period_end, status FROM ${T.invoices} WHERE id = $1`,
      [invoiceId],
    );
    if (!row) throw new GureumError(ErrorCode.NotFound, `invoice ${invoiceId} not found`);
    const now = this.clock();
    if (row.status === 'draft') {
      if (now < row.period_end) {
        throw new GureumError(ErrorCode.InvalidState, `invoice ${invoiceId} is for a period that ends at ${row.period_end.toISOString()}; it cannot be finalised before`);
      }
      await this.writer.write(row.tenant_id, { start: row.period_start, end: row.period_end }, now, 'finalise');
    }
    return getInvoice(this.dataSource.manager, caller, invoiceId);
  }
}
