import type { AdmissionCheckReply, BudgetInput, BudgetView } from '@gureum/contracts';
import { BudgetInputSchema } from '@gureum/contracts';
import type { DataSource, EntityManager } from 'typeorm';
import { inTransaction, lockTenant, queryRows, T } from '../database/sql';
import { tenantCurrency } from '../credits/credits.usecases';
import { dec, formatMoney, ZERO } from '../money/money';
import { periodContaining, type BillingPeriodLength, type Period } from '../periods/billing-period';

/** The current period's cost as of its draft invoice (recomputed every invoice run). */
async function draftCost(manager: EntityManager, tenantId: string, period: Period): Promise<{ total: string; currency: string } | null> {
  const [row] = await queryRows<{ total: string; currency: string }>(manager, `SELECT total::text, currency FROM ${T.invoices} WHERE tenant_id = $1 AND period_start = $2`, [
    tenantId,
    period.start,
  ]);
  return row ?? null;
}

export class BudgetUseCases {
  constructor(
    private readonly dataSource: DataSource,
    private readonly period: BillingPeriodLength,
    private readonly clock: () => Date,
  ) {}

  async get(tenantId: string): Promise<BudgetView> {
    return this.view(this.dataSource.manager, tenantId);
  }

  async set(tenantId: string, input: BudgetInput): Promise<BudgetView> {
    const budget = BudgetInputSchema.parse(input);
    return inTransaction(this.dataSource, async (manager) => {
      await lockTenant(manager, tenantId);
      await manager.query(
        `INSERT INTO ${T.budgets} (tenant_id, amount, thresholds_percent, hard_limit, updated_at) VALUES ($1, $2, $3, $4, now())
         ON CONFLICT (tenant_id) DO UPDATE SET amount = EXCLUDED.amount, thresholds_percent = EXCLUDED.thresholds_percent, hard_limit = EXCLUDED.hard_limit, updated_at = now()`,
        [tenantId, budget.amount, [...budget.alertThresholdsPercent].sort((a, b) => a - b), budget.hardLimit],
      );
      return this.view(manager, tenantId);
    });
  }

  /**
   * The hard limit: while this period's cost (as of its draft) has reached the budget, new
   * workloads are refused. No budget or no hard limit: allowed.
   */
  async admission(tenantId: string): Promise<AdmissionCheckReply> {
    const manager = this.dataSource.manager;
    const [budget] = await queryRows<{ amount: string; hard_limit: boolean }>(manager, `SELECT amount::text, hard_limit FROM ${T.budgets} WHERE tenant_id = $1`, [tenantId]);
    if (!budget?.hard_limit) return { allowed: true, reason: null };
    const cost = await draftCost(manager, tenantId, periodContaining(this.period, this.clock()));
    const spent = cost ? dec(cost.total) : ZERO;
    if (spent.gte(dec(budget.amount))) {
      const currency = cost ? ` ${cost.currency}` : '';
      return { allowed: false, reason: `this period's cost ${spent.toFixed(2)}${currency} has reached the budget's hard limit of ${dec(budget.amount).toFixed(2)}${currency}` };
    }
    return { allowed: true, reason: null };
  }

  private async view(manager: EntityManager, tenantId: string): Promise<BudgetView> {
    const now = this.clock();
    const period = periodContaining(this.period, now);
    const [budget] = await queryRows<{ amount: string; thresholds_percent: number[]; hard_limit: boolean }>(
      manager,
      `SELECT amount::text, thresholds_percent, hard_limit FROM ${T.budgets} WHERE tenant_id = $1`,
      [tenantId],
    );
    const alerts = await queryRows<{ period_start: Date; threshold_percent: number; cost_at_alert: string; currency: string; created_at: Date }>(
      manager,
      `SELECT period_start, threshold_percent, cost_at_alert::text, currency, created_at FROM ${T.budgetAlerts} WHERE tenant_id = $1 AND period_start = $2 ORDER BY threshold_percent`,
      [tenantId, period.start],
    );
    const cost = await draftCost(manager, tenantId, period);
    const currency = cost?.currency ?? (await tenantCurrency(manager, tenantId, now));
    const money = (text: string) => (currency ? formatMoney(dec(text), currency) : dec(text).toFixed(2));
    return {
      amount: budget ? money(budget.amount) : null,
      alertThresholdsPercent: budget?.thresholds_percent ?? [],
      hardLimit: budget?.hard_limit ?? false,
      currency,
      periodStart: period.start.toISOString(),
      periodEnd: period.end.toISOString(),
      costSoFar: money(cost?.total ?? '0'),
      alerts: alerts.map((a) => ({
        periodStart: a.period_start.toISOString(),
        thresholdPercent: a.threshold_percent,
        costAtAlert: formatMoney(dec(a.cost_at_alert), a.currency),
        at: a.created_at.toISOString(),
      })),
    };
  }
}
