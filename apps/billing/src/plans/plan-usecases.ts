import { ErrorCode, GureumError, type PlanAssignment, type PlanInput, type PlanView } from '@gureum/contracts';
import type { DataSource } from 'typeorm';
import { inTransaction, lockTenant } from '../database/sql';
import { isSupportedCurrency } from '../money/money';
import { insertPlan, loadPlan, loadPlans } from './plan-store';

export class CreatePlanUseCase {
  constructor(private readonly dataSource: DataSource) {}

  async execute(input: PlanInput): Promise<PlanView> {
    if (!isSupportedCurrency(input.currency)) throw new GureumError(ErrorCode.ValidationFailed, `currency ${input.currency} is not supported (three-digit minor units are not)`);
    const id = await inTransaction(this.dataSource, (manager) => insertPlan(manager, input));
    const plan = await loadPlan(this.dataSource.manager, id);
    if (!plan) throw new GureumError(ErrorCode.Internal, 'plan vanished after it was created');
    return plan;
  }
}

export class ListPlansUseCase {
  constructor(private readonly dataSource: DataSource) {}

  async execute(): Promise<{ items: PlanView[] }> {
    return { items: await loadPlans(this.dataSource.manager) };
  }
}

/**
 * Puts a tenant on a plan from `effectiveFrom` (default: now). The plan in effect at a period's
 * start bills that whole period, so a change inside a period applies from the next one.
 * Assigning again at the same instant replaces that assignment.
 */
export class AssignPlanUseCase {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: () => Date,
  ) {}

  async execute(tenantId: string, planId: string, effectiveFrom?: string): Promise<PlanAssignment> {
    const plan = await loadPlan(this.dataSource.manager, planId);
    if (!plan) throw new GureumError(ErrorCode.NotFound, `plan ${planId} not found`);
    const from = effectiveFrom ? new Date(effectiveFrom) : this.clock();
    await inTransaction(this.dataSource, async (manager) => {
      await lockTenant(manager, tenantId);
      await manager.query(
        `INSERT INTO "billing"."tenant_plans" (tenant_id, effective_from, plan_id) VALUES ($1, $2, $3)
         ON CONFLICT (tenant_id, effective_from) DO UPDATE SET plan_id = EXCLUDED.plan_id, assigned_at = now()`,
        [tenantId, from, planId],
      );
    });
    return { tenantId, planId, currency: plan.currency, effectiveFrom: from.toISOString() };
  }
}
