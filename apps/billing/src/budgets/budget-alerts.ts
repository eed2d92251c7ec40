import { randomUUID } from 'node:crypto';
import { enqueueEvent } from '@gureum/messaging';
import type { EntityManager } from 'typeorm';
import { queryRows, T } from '../database/sql';
import { Dec, dec, formatMoney } from '../money/money';

export interface BudgetCheck {
  tenantId: string;
  periodStart: Date;
  currency: string;
  costSoFar: Dec;
  now: Date;
}

/**
 * Inside the draft's transaction: every threshold the cost has reached gets one alert row per
 * period (primary key), and only a newly inserted row enqueues `evt.billing.budget.v1`, so a
 * recompute, a rerun or a second replica never alerts twice.
 */
export async function checkBudgetThresholds(manager: EntityManager, check: BudgetCheck): Promise<number> {
  const [budget] = await queryRows<{ amount: string; thresholds_percent: number[] }>(
    manager,
    `SELECT amount::text, thresholds_percent FROM ${T.budgets} WHERE tenant_id = $1`,
    [check.tenantId],
  );
  if (!budget) return 0;
  const amount = dec(budget.amount);
  let raised = 0;
  for (const threshold of [...budget.thresholds_percent].sort((a, b) => a - b)) {
    const limit = amount.times(threshold).dividedBy(100);
    // Reached means cost ≥ threshold × budget, the same comparison as the hard limit (a zero budget is reached at once).
    if (check.costSoFar.lt(limit)) continue;
    const inserted = await queryRows<{ threshold_percent: number }>(
      manager,
      `INSERT INTO ${T.budgetAlerts} (tenant_id, period_start, threshold_percent, budget, cost_at_alert, currency, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING threshold_percent`,
      [check.tenantId, check.periodStart, threshold, budget.amount, formatMoney(check.costSoFar, check.currency), check.currency, check.now],
    );
    if (inserted.length === 0) continue;
    raised += 1;
    await enqueueEvent(manager, 'evt.billing.budget.v1', {
      eventId: randomUUID(),
      tenantId: check.tenantId,
      periodStart: check.periodStart.toISOString(),
      thresholdPercent: threshold,
      budget: dec(budget.amount).toFixed(2),
      costSoFar: formatMoney(check.costSoFar, check.currency),
      currency: check.currency,
      occurredAt: check.now.toISOString(),
    });
  }
  return raised;
}
