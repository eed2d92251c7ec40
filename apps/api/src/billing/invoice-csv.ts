import type { InvoiceView } from '@gureum/contracts';

/** RFC 4180 field: quoted when it holds a comma, quote or line break. */
function field(value: string | number): string {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One row per line item with its provenance (meter, rollup range, quantity), then the totals. */
export function invoiceCsv(invoice: InvoiceView): string {
  const rows: Array<Array<string | number>> = [
    ['invoice_id', 'tenant_id', 'status', 'currency', 'period_start', 'period_end', 'meter', 'unit', 'usage_from', 'usage_to', 'rollup_hours', 'quantity', 'free_quantity', 'billable_quantity', 'pricing_model', 'amount'],
  ];
  for (const line of invoice.lines) {
    rows.push([
      invoice.id,
      invoice.tenantId,
      invoice.status,
      invoice.currency,
      invoice.periodStart,
      invoice.periodEnd,
      line.meter,
      line.unit,
      line.usageFrom,
      line.usageTo,
      line.rollupHours,
      line.quantity,
      line.freeQuantity,
      line.billableQuantity,
      line.pricing.model,
      line.amount,
    ]);
  }
  const summary = (label: string, amount: string) => [invoice.id, invoice.tenantId, invoice.status, invoice.currency, invoice.periodStart, invoice.periodEnd, label, '', '', '', '', '', '', '', '', amount];
  rows.push(summary('TOTAL', invoice.total), summary('CREDITS_APPLIED', invoice.creditsApplied), summary('AMOUNT_DUE', invoice.amountDue));
  return rows.map((row) => row.map(field).join(',')).join('\r\n') + '\r\n';
}
