import { randomUUID } from 'node:crypto';
import { ErrorCode, GureumError, type CreditNoteView, type OperatorCaller } from '@gureum/contracts';
import type { DataSource } from 'typeorm';
import { inTransaction, lockTenant, queryRows, T } from '../database/sql';
import { dec, fitsMinorUnit, formatMoney } from '../money/money';

/**
 * A correction of a finalised invoice (which itself never changes): a credit note of at most
 * what is left of the invoice's total after earlier notes. Its amount is added to the tenant's
 * prepaid balance, so the next finalised invoice consumes it.
 */
export class CreateCreditNoteUseCase {
  constructor(private readonly dataSource: DataSource) {}

  async execute(_caller: OperatorCaller, invoiceId: string, amountText: string, reason: string): Promise<CreditNoteView> {
    const [invoice] = await queryRows<{ tenant_id: string; currency: string }>(this.dataSource.manager, `SELECT tenant_id, currency FROM ${T.invoices} WHERE id = $1`, [invoiceId]);
    if (!invoice) throw new GureumError(ErrorCode.NotFound, `invoice ${invoiceId} not found`);
    const amount = dec(amountText);
    if (!amount.gt(0)) throw new GureumError(ErrorCode.ValidationFailed, 'amount must be greater than zero');
    if (!fitsMinorUnit(amountText, invoice.currency)) throw new GureumError(ErrorCode.ValidationFailed, `amount has more digits than ${invoice.currency} allows`);

    return inTransaction(this.dataSource, async (manager) => {
      await lockTenant(manager, invoice.tenant_id);
      const [state] = await queryRows<{ status: string; total: string; noted: string }>(
        manager,
        `SELECT status, total::text, (SELECT COALESCE(sum(amount), 0)::text FROM ${T.creditNotes} WHERE invoice_id = $1) AS noted FROM ${T.invoices} WHERE id = $1`,
        [invoiceId],
      );
      if (!state) throw new GureumError(ErrorCode.NotFound, `invoice ${invoiceId} not found`);
      if (state.status !== 'finalised') throw new GureumError(ErrorCode.InvalidState, `invoice ${invoiceId} is a draft; drafts are recomputed, not corrected`);
      const left = dec(state.total).minus(dec(state.noted));
      if (amount.gt(left)) {
        throw new GureumError(ErrorCode.Conflict, `credit notes may total at most the invoice's ${formatMoney(dec(state.total), invoice.currency)}; ${formatMoney(left, invoice.currency)} is left`);
      }
      const id = randomUUID();
      const [note] = await queryRows<{ created_at: Date }>(
        manager,
        `INSERT INTO ${T.creditNotes} (id, invoice_id, tenant_id, amount, currency, reason) VALUES ($1, $2, $3, $4, $5, $6) RETURNING created_at`,
        [id, invoiceId, invoice.tenant_id, amountText, invoice.currency, reason],
      );
      await manager.query(`INSERT INTO ${T.creditLedger} (id, tenant_id, currency, amount, kind, credit_note_id) VALUES ($1, $2, $3, $4, 'credit_note', $5)`, [
        randomUUID(),
        invoice.tenant_id,
        invoice.currency,
        amountText,
        id,
      ]);
      return {
        id,
        invoiceId,
        tenantId: invoice.tenant_id,
        amount: formatMoney(amount, invoice.currency),
        currency: invoice.currency,
        reason,
        createdAt: (note?.created_at ?? new Date()).toISOString(),
      };
    });
  }
}
