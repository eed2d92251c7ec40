import type { Logger } from '@gureum/runtime';
import type { DataSource } from 'typeorm';
import { queryRows, T } from '../database/sql';
import { periodContaining, previousPeriod, type BillingPeriodLength, type Period } from '../periods/billing-period';
import { tenantsWithPlans } from '../plans/plan-store';
import type { InvoiceWriter } from './invoice-writer';

export interface InvoiceRunReport {
  tenants: number;
  drafts: number;
  finalised: number;
  failedTenants: string[];
}

/** Test seam: called after each tenant's work has committed; a throw ends the run there, as a crash would. */
export type AfterTenantHook = (tenantId: string, index: number) => Promise<void> | void;

/** Past periods a run looks back over per tenant (more are picked up by the next runs). */
const MAX_BACKFILL_PERIODS = 48;

/**
 * One invoice run. For every tenant with a plan: each past period since its first plan that
 * has no invoice gets one, each draft whose period ended more than the grace period ago is
 * finalised, and the current period's draft is recomputed. Every step is one transaction of
 * one tenant and is keyed by (tenant, period_start), so a run that dies anywhere is resumed by
 * the next one: nothing is missing and nothing is there twice.
 */
export class RunInvoicesUseCase {
  constructor(
    private readonly dataSource: DataSource,
    private readonly writer: InvoiceWriter,
    private readonly period: BillingPeriodLength,
    private readonly graceMs: number,
    private readonly logger: Logger,
    private readonly afterTenant?: AfterTenantHook,
  ) {}

  async execute(now: Date): Promise<InvoiceRunReport> {
    const current = periodContaining(this.period, now);
    const tenants = await tenantsWithPlans(this.dataSource.manager, current.end);
    const report: InvoiceRunReport = { tenants: tenants.length, drafts: 0, finalised: 0, failedTenants: [] };
    for (const [index, tenantId] of tenants.entries()) {
      try {
        for (const period of await this.pastPeriodsToClose(tenantId, current, now)) {
          const due = now.getTime() >= period.end.getTime() + this.graceMs;
          const result = await this.writer.write(tenantId, period, now, due ? 'finalise' : 'draft');
          if (!result.unchanged && result.status === 'finalised') report.finalised += 1;
          if (!result.unchanged && result.status === 'draft') report.drafts += 1;
        }
        const result = await this.writer.write(tenantId, current, now, 'draft');
        if (!result.unchanged && result.status === 'draft') report.drafts += 1;
      } catch (error) {
        report.failedTenants.push(tenantId);
        this.logger.error({ err: error, tenantId }, 'invoice run failed for a tenant; the next run retries it');
      }
      await this.afterTenant?.(tenantId, index);
    }
    this.logger.info({ ...report, periodStart: current.start.toISOString() }, 'invoice run done');
    return report;
  }

  /** Past periods of the tenant that are not finalised yet: open drafts, and periods since its first plan with no invoice at all. */
  private async pastPeriodsToClose(tenantId: string, current: Period, now: Date): Promise<Period[]> {
    const manager = this.dataSource.manager;
    const [first] = await queryRows<{ first: Date | null }>(manager, `SELECT min(effective_from) AS first FROM ${T.tenantPlans} WHERE tenant_id = $1`, [tenantId]);
    const invoices = await queryRows<{ period_start: Date; period_end: Date; status: string }>(
      manager,
      `SELECT period_start, period_end, status FROM ${T.invoices} WHERE tenant_id = $1 AND period_start < $2`,
      [tenantId, current.start],
    );
    const known = new Map(invoices.map((i) => [i.period_start.getTime(), i]));
    const periods: Period[] = [];
    let period = previousPeriod(this.period, current);
    const since = first?.first ?? now;
    while (period.end.getTime() > since.getTime() && periods.length < MAX_BACKFILL_PERIODS) {
      const invoice = known.get(period.start.getTime());
      if (!invoice || invoice.status === 'draft') periods.push(period);
      period = previousPeriod(this.period, period);
    }
    return periods.reverse();
  }
}
