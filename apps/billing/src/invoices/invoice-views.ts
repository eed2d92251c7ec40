import { decodeCursor, encodeCursor } from '@gureum/database';
import { ErrorCode, GureumError, PricingSchema, type Caller, type CreditNoteView, type InvoiceList, type InvoiceSummary, type InvoiceView, type OperatorCaller } from '@gureum/contracts';
import type { EntityManager } from 'typeorm';
import { queryRows, T } from '../database/sql';
import { dec, formatDecimal, formatMoney } from '../money/money';

interface InvoiceRow {
  id: string;
  tenant_id: string;
  plan_id: string;
  status: 'draft' | 'finalised';
  currency: string;
  period_start: Date;
  period_end: Date;
  total: string;
  credits_applied: string;
  amount_due: string;
  credit_notes_total: string;
  computed_at: Date;
  finalised_at: Date | null;
  created_at: Date;
}

const SELECT_INVOICE = `SELECT i.id, i.tenant_id, i.plan_id, i.status, i.currency, i.period_start, i.period_end, i.total::text, i.credits_applied::text,
  i.amount_due::text, i.computed_at, i.finalised_at, i.created_at,
  (SELECT COALESCE(sum(n.amount), 0)::text FROM ${T.creditNotes} n WHERE n.invoice_id = i.id) AS credit_notes_total
  FROM ${T.invoices} i`;

function summaryOf(row: InvoiceRow): InvoiceSummary {
  const money = (text: string) => formatMoney(dec(text), row.currency);
  return {
    id: row.id,
    tenantId: row.tenant_id,
    planId: row.plan_id,
    status: row.status,
    currency: row.currency,
    periodStart: row.period_start.toISOString(),
    periodEnd: row.period_end.toISOString(),
    total: money(row.total),
    creditsApplied: money(row.credits_applied),
    amountDue: money(row.amount_due),
    creditNotesTotal: money(row.credit_notes_total),
    computedAt: row.computed_at.toISOString(),
    finalisedAt: row.finalised_at?.toISOString() ?? null,
  };
}

/** A tenant caller sees only its own invoices; an operator any (optionally one tenant's). Newest first. */
export async function listInvoices(
  manager: EntityManager,
  caller: Caller | OperatorCaller,
  options: { tenantId?: string; limit: number; cursor?: string },
): Promise<InvoiceList> {
  const tenantId = 'tenantId' in caller ? caller.tenantId : (options.tenantId ?? null);
  const position = options.cursor ? decodeCursor(options.cursor) : null;
  if (options.cursor && !position) throw new GureumError(ErrorCode.ValidationFailed, 'invalid cursor');
  const rows = await queryRows<InvoiceRow>(
    manager,
    `${SELECT_INVOICE}
     WHERE ($1::uuid IS NULL OR i.tenant_id = $1) AND ($2::timestamptz IS NULL OR (i.created_at, i.id) < ($2, $3::uuid))
     ORDER BY i.created_at DESC, i.id DESC LIMIT $4`,
    [tenantId, position?.createdAt ?? null, position?.id ?? null, options.limit + 1],
  );
  const page = rows.slice(0, options.limit);
  const last = page[page.length - 1];
  return { items: page.map(summaryOf), nextCursor: rows.length > options.limit && last ? encodeCursor({ createdAt: last.created_at, id: last.id }) : null };
}

/** Not found (never forbidden) for another tenant's invoice: a tenant cannot learn that it exists. */
export async function getInvoice(manager: EntityManager, caller: Caller | OperatorCaller, invoiceId: string): Promise<InvoiceView> {
  const [row] = await queryRows<InvoiceRow>(manager, `${SELECT_INVOICE} WHERE i.id = $1 AND ($2::uuid IS NULL OR i.tenant_id = $2)`, [
    invoiceId,
    'tenantId' in caller ? caller.tenantId : null,
  ]);
  if (!row) throw new GureumError(ErrorCode.NotFound, `invoice ${invoiceId} not found`);
  const lines = await queryRows<{
    meter: string;
    unit: string;
    quantity: string;
    free_quantity: string;
    billable_quantity: string;
    pricing: unknown;
    amount: string;
    usage_from: Date;
    usage_to: Date;
    rollup_hours: number;
  }>(
    manager,
    `SELECT meter, unit, quantity::text, free_quantity::text, billable_quantity::text, pricing, amount::text, usage_from, usage_to, rollup_hours
     FROM ${T.invoiceLines} WHERE invoice_id = $1 ORDER BY position`,
    [invoiceId],
  );
  const notes = await creditNotesOf(manager, invoiceId);
  return {
    ...summaryOf(row),
    lines: lines.map((line) => ({
      meter: line.meter,
      unit: line.unit,
      quantity: formatDecimal(dec(line.quantity)),
      freeQuantity: formatDecimal(dec(line.free_quantity)),
      billableQuantity: formatDecimal(dec(line.billable_quantity)),
      pricing: PricingSchema.parse(line.pricing),
      amount: formatMoney(dec(line.amount), row.currency),
      usageFrom: line.usage_from.toISOString(),
      usageTo: line.usage_to.toISOString(),
      rollupHours: line.rollup_hours,
    })),
    creditNotes: notes,
  };
}

export async function creditNotesOf(manager: EntityManager, invoiceId: string): Promise<CreditNoteView[]> {
  const rows = await queryRows<{ id: string; invoice_id: string; tenant_id: string; amount: string; currency: string; reason: string; created_at: Date }>(
    manager,
    `SELECT id, invoice_id, tenant_id, amount::text, currency, reason, created_at FROM ${T.creditNotes} WHERE invoice_id = $1 ORDER BY created_at, id`,
    [invoiceId],
  );
  return rows.map((r) => ({
    id: r.id,
    invoiceId: r.invoice_id,
    tenantId: r.tenant_id,
    amount: formatMoney(dec(r.amount), r.currency),
    currency: r.currency,
    reason: r.reason,
    createdAt: r.created_at.toISOString(),
  }));
}
