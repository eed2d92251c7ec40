import type { PlanView, Pricing, UsageRow } from '@gureum/contracts';
import { Dec, dec, roundQuantity, ZERO } from '../money/money';
import { priceCharge } from '../pricing/pricing';

export interface ComputedLine {
  meter: string;
  unit: string;
  aggregate: 'sum' | 'max';
  quantity: Dec;
  free: Dec;
  billable: Dec;
  pricing: Pricing;
  amount: Dec;
  usageFrom: Date;
  usageTo: Date;
  /** The hourly rollups the quantity was made of: the line's provenance. */
  rollups: Array<{ hour: string; quantity: string }>;
}

export interface ComputedInvoice {
  lines: ComputedLine[];
  /** Sum of the rounded line amounts. */
  total: Dec;
}

/**
 * The lines of one period under one plan: one per charge (a charge without usage gives a zero
 * line, so the invoice shows every charge). Hourly rollups of the meter are summed (or their
 * maximum taken), rounded half-even to 6 digits, priced, and the line rounded once.
 */
export function computeInvoice(plan: PlanView, rows: readonly UsageRow[], usageFrom: Date, usageTo: Date): ComputedInvoice {
  // Rows grouped by meter in one pass; hours are ISO-8601 UTC strings, so code-unit order is time order.
  const byMeter = new Map<string, UsageRow[]>();
  for (const row of rows) {
    const group = byMeter.get(row.meter);
    if (group) group.push(row);
    else byMeter.set(row.meter, [row]);
  }
  const lines = plan.charges.map((charge): ComputedLine => {
    const hours = [...(byMeter.get(charge.meter) ?? [])]
      .sort((a, b) => (a.periodStart < b.periodStart ? -1 : a.periodStart > b.periodStart ? 1 : 0))
      .map((row) => ({ hour: row.periodStart, quantity: row.quantity, unit: row.unit }));
    const values = hours.map((h) => dec(h.quantity));
    const combined = charge.aggregate === 'max' ? values.reduce((max, v) => Dec.max(max, v), ZERO) : values.reduce((sum, v) => sum.plus(v), ZERO);
    const quantity = roundQuantity(Dec.max(combined, ZERO));
    const priced = priceCharge(charge, quantity, plan.currency);
    return {
      meter: charge.meter,
      unit: hours[0]?.unit ?? '',
      aggregate: charge.aggregate,
      quantity,
      free: priced.free,
      billable: priced.billable,
      pricing: charge.pricing,
      amount: priced.amount,
      usageFrom,
      usageTo,
      rollups: hours.map(({ hour, quantity: q }) => ({ hour, quantity: q })),
    };
  });
  return { lines, total: lines.reduce((sum, line) => sum.plus(line.amount), ZERO) };
}
