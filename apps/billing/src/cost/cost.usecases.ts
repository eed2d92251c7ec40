import type { BillingSummary, CostView } from '@gureum/contracts';
import type { DataSource } from 'typeorm';
import { queryRows, T } from '../database/sql';
import { computeInvoice } from '../invoices/compute-lines';
import { Dec, dec, formatMoney, roundMoney } from '../money/money';
import { floorToHour, periodContaining, type BillingPeriodLength } from '../periods/billing-period';
import { planForPeriod } from '../plans/plan-store';
import type { UsageSource } from '../usage/usage-source';

/**
 * Cost so far this period, priced live from metering's rollups exactly as the draft would be,
 * and a linear forecast: cost so far × (period length billed) / (time elapsed), rounded once.
 */
export class GetCostUseCase {
  constructor(
    private readonly dataSource: DataSource,
    private readonly usage: UsageSource,
    private readonly period: BillingPeriodLength,
    private readonly clock: () => Date,
  ) {}

  async execute(tenantId: string): Promise<CostView> {
    const now = this.clock();
    const period = periodContaining(this.period, now);
    const planned = await planForPeriod(this.dataSource.manager, tenantId, period.start, period.end);
    if (!planned) return { currency: null, periodStart: period.start.toISOString(), periodEnd: period.end.toISOString(), costSoFar: '0.00', forecast: '0.00' };
    const usageTo = new Date(Math.min(period.end.getTime(), floorToHour(now).getTime() + 3_600_000));
    const rows = planned.usageFrom < usageTo ? await this.usage.hourlyUsage(tenantId, planned.usageFrom, usageTo) : [];
    const { total } = computeInvoice(planned.plan, rows, planned.usageFrom, usageTo);
    const elapsed = now.getTime() - planned.usageFrom.getTime();
    const billed = period.end.getTime() - planned.usageFrom.getTime();
    const forecast = elapsed > 0 ? roundMoney(total.times(new Dec(billed)).dividedBy(new Dec(elapsed)), planned.plan.currency) : total;
    const currency = planned.plan.currency;
    return {
      currency,
      periodStart: period.start.toISOString(),
      periodEnd: period.end.toISOString(),
      costSoFar: formatMoney(total, currency),
      forecast: formatMoney(Dec.max(forecast, total), currency),
    };
  }
}

/** Operator overview: this period's invoice totals (drafts included) in one currency, and how many tenants they are. */
export class BillingSummaryUseCase {
  constructor(
    private readonly dataSource: DataSource,
    private readonly period: BillingPeriodLength,
    private readonly defaultCurrency: string,
    private readonly clock: () => Date,
  ) {}

  async execute(currency?: string): Promise<BillingSummary> {
    const period = periodContaining(this.period, this.clock());
    const chosen = currency ?? this.defaultCurrency;
    const [row] = await queryRows<{ revenue: string; tenants: string }>(
      this.dataSource.manager,
      `SELECT COALESCE(sum(total), 0)::text AS revenue, count(DISTINCT tenant_id)::text AS tenants FROM ${T.invoices} WHERE period_start = $1 AND currency = $2`,
      [period.start, chosen],
    );
    return {
      currency: chosen,
      periodStart: period.start.toISOString(),
      periodEnd: period.end.toISOString(),
      revenue: formatMoney(dec(row?.revenue ?? '0'), chosen),
      tenants: Number.parseInt(row?.tenants ?? '0', 10),
    };
  }
}
