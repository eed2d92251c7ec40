import { randomUUID } from 'node:crypto';
import type { PlanView } from '@gureum/contracts';
import { enqueueEvent } from '@gureum/messaging';
import type { DataSource, EntityManager } from 'typeorm';
import { inTransaction, lockTenant, queryRows, T } from '../database/sql';
import { Dec, dec, formatMoney, ZERO } from '../money/money';
import { floorToHour, type Period } from '../periods/billing-period';
import { loadPlan, planForPeriod } from '../plans/plan-store';
import type { UsageSource } from '../usage/usage-source';
import { checkBudgetThresholds } from '../budgets/budget-alerts';
import { computeInvoice, type ComputedInvoice } from './compute-lines';

/** Plans kept in memory per writer; a run over more distinct plans than this reloads some. */
const MAX_CACHED_PLANS = 1000;

export type WriteMode = 'draft' | 'finalise';

export interface WriteResult {
  invoiceId: string | null;
  status: 'draft' | 'finalised' | 'no_plan';
  /** True when the invoice was already finalised and nothing was written. */
  unchanged: boolean;
}

/** Test seam: runs inside the tenant's transaction just before it commits (a throw rolls it back). */
export type BeforeCommitHook = (tenantId: string, period: Period) => Promise<void> | void;

/**
 * Writes one tenant's invoice for one period: the draft recomputed from metering's rollups,
 * or (mode `finalise`) recomputed one last time, credits applied and frozen. One transaction
 * per call, under the tenant's advisory lock, keyed by the unique (tenant, period_start): a
 * call repeated after a crash rewrites the same draft or finds the invoice finalised.
 */
export class InvoiceWriter {
  /** Plans are written once and never edited (plan-store), so a loaded plan stays valid; bounded so a long-lived writer cannot grow without end. */
  private readonly plans = new Map<string, PlanView>();

  constructor(
    private readonly dataSource: DataSource,
    private readonly usage: UsageSource,
    private readonly beforeCommit?: BeforeCommitHook,
  ) {}

  async write(tenantId: string, period: Period, now: Date, mode: WriteMode): Promise<WriteResult> {
    const planned = await planForPeriod(this.dataSource.manager, tenantId, period.start, period.end, (planId) => this.plan(planId));
    if (!planned) return { invoiceId: null, status: 'no_plan', unchanged: true };
    // Usage is read before the transaction: a slow metering reply must not hold locks.
    const usageTo = new Date(Math.min(period.end.getTime(), floorToHour(now).getTime() + 3_600_000));
    const rows = planned.usageFrom < usageTo ? await this.usage.hourlyUsage(tenantId, planned.usageFrom, usageTo) : [];
    const computed = computeInvoice(planned.plan, rows, planned.usageFrom, usageTo);

    return inTransaction(this.dataSource, async (manager) => {
      await lockTenant(manager, tenantId);
      await manager.query(
        `INSERT INTO ${T.invoices} (id, tenant_id, plan_id, currency, period_start, period_end, usage_from, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'draft') ON CONFLICT (tenant_id, period_start) DO NOTHING`,
        [randomUUID(), tenantId, planned.plan.id, planned.plan.currency, period.start, period.end, planned.usageFrom],
      );
      const [invoice] = await queryRows<{ id: string; status: 'draft' | 'finalised' }>(
        manager,
        `SELECT id, status FROM ${T.invoices} WHERE tenant_id = $1 AND period_start = $2 FOR UPDATE`,
        [tenantId, period.start],
      );
      if (!invoice) throw new Error('invoice row vanished inside its transaction');
      if (invoice.status === 'finalised') return { invoiceId: invoice.id, status: 'finalised', unchanged: true };

      const currency = planned.plan.currency;
      await this.replaceLines(manager, invoice.id, computed, currency);
      if (mode === 'draft') {
        await manager.query(
          `UPDATE ${T.invoices} SET plan_id = $2, currency = $3, usage_from = $4, total = $5, amount_due = $5, credits_applied = 0, computed_at = $6 WHERE id = $1`,
          [invoice.id, planned.plan.id, currency, planned.usageFrom, formatMoney(computed.total, currency), now],
        );
        await checkBudgetThresholds(manager, { tenantId, periodStart: period.start, currency, costSoFar: computed.total, now });
      } else {
        const applied = await this.applyCredits(manager, tenantId, invoice.id, currency, computed.total);
        const due = computed.total.minus(applied);
        await manager.query(
          `UPDATE ${T.invoices} SET plan_id = $2, currency = $3, usage_from = $4, total = $5, credits_applied = $6, amount_due = $7,
             computed_at = $8, finalised_at = $8, status = 'finalised' WHERE id = $1`,
          [invoice.id, planned.plan.id, currency, planned.usageFrom, formatMoney(computed.total, currency), formatMoney(applied, currency), formatMoney(due, currency), now],
        );
        await enqueueEvent(manager, 'evt.billing.invoice.finalised.v1', {
          eventId: randomUUID(),
          invoiceId: invoice.id,
          tenantId,
          periodStart: period.start.toISOString(),
          periodEnd: period.end.toISOString(),
          currency,
          total: formatMoney(computed.total, currency),
          amountDue: formatMoney(due, currency),
          occurredAt: now.toISOString(),
        });
      }
      await this.beforeCommit?.(tenantId, period);
      return { invoiceId: invoice.id, status: mode === 'draft' ? 'draft' : 'finalised', unchanged: false };
    });
  }

  private async plan(planId: string): Promise<PlanView | null> {
    const cached = this.plans.get(planId);
    if (cached) return cached;
    const plan = await loadPlan(this.dataSource.manager, planId);
    if (plan) {
      if (this.plans.size >= MAX_CACHED_PLANS) this.plans.clear();
      this.plans.set(planId, plan);
    }
    return plan;
  }

  private async replaceLines(manager: EntityManager, invoiceId: string, computed: ComputedInvoice, currency: string): Promise<void> {
    await manager.query(`DELETE FROM ${T.invoiceLines} WHERE invoice_id = $1`, [invoiceId]);
    if (computed.lines.length === 0) return;
    // One statement for all lines of the invoice (a round trip per line was most of a run's statements).
    const columns = 14;
    const values: string[] = [];
    const params: unknown[] = [];
    for (const [position, line] of computed.lines.entries()) {
      values.push(`(${Array.from({ length: columns }, (_, i) => `$${position * columns + i + 1}`).join(', ')})`);
      params.push(
        invoiceId,
        line.meter,
        position,
        line.unit,
        line.aggregate,
        line.quantity.toFixed(),
        line.free.toFixed(),
        line.billable.toFixed(),
        JSON.stringify(line.pricing),
        formatMoney(line.amount, currency),
        line.usageFrom,
        line.usageTo,
        line.rollups.length,
        JSON.stringify(line.rollups),
      );
    }
    await manager.query(
      `INSERT INTO ${T.invoiceLines} (invoice_id, meter, position, unit, aggregate, quantity, free_quantity, billable_quantity, pricing, amount, usage_from, usage_to, rollup_hours, rollups)
       VALUES ${values.join(', ')}`,
      params,
    );
  }

  /** Spends the prepaid balance (same currency) on the invoice, at most its total; one ledger row per invoice (unique index). */
  private async applyCredits(manager: EntityManager, tenantId: string, invoiceId: string, currency: string, total: Dec): Promise<Dec> {
    const [row] = await queryRows<{ balance: string }>(manager, `SELECT COALESCE(sum(amount), 0)::text AS balance FROM ${T.creditLedger} WHERE tenant_id = $1 AND currency = $2`, [
      tenantId,
      currency,
    ]);
    const balance = dec(row?.balance ?? '0');
    const applied = Dec.max(ZERO, Dec.min(balance, total));
    if (applied.gt(0)) {
      await manager.query(`INSERT INTO ${T.creditLedger} (id, tenant_id, currency, amount, kind, invoice_id) VALUES ($1, $2, $3, $4, 'invoice', $5)`, [
        randomUUID(),
        tenantId,
        currency,
        formatMoney(applied.negated(), currency),
        invoiceId,
      ]);
    }
    return applied;
  }
}
