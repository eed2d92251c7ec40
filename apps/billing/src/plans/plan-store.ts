import { randomUUID } from 'node:crypto';
import { ChargeSchema, type Charge, type PlanInput, type PlanView, PlanInputSchema, type PriceTier, type Pricing } from '@gureum/contracts';
import type { EntityManager } from 'typeorm';
import { dec, formatDecimal } from '../money/money';
import { queryRows, T } from '../database/sql';

interface ChargeRow {
  plan_id: string;
  meter: string;
  aggregate: 'sum' | 'max';
  free_allowance: string;
  model: Pricing['model'];
  unit_price: string | null;
  package_size: string | null;
  package_price: string | null;
}
interface TierRow {
  plan_id: string;
  meter: string;
  up_to: string | null;
  unit_price: string;
  flat_fee: string;
}
interface PlanRow {
  id: string;
  name: string;
  currency: string;
  created_at: Date;
}

/** "1.500000" → "1.5": numeric(20,6) back to the plan's own spelling. */
const text = (value: string) => formatDecimal(dec(value));

/** Plans are written once and never edited, so an invoice can always be recomputed from its plan. */
export async function insertPlan(manager: EntityManager, input: PlanInput): Promise<string> {
  const plan = PlanInputSchema.parse(input);
  const id = randomUUID();
  await manager.query(`INSERT INTO ${T.plans} (id, name, currency) VALUES ($1, $2, $3)`, [id, plan.name, plan.currency]);
  for (const [position, charge] of plan.charges.entries()) {
    const p = charge.pricing;
    await manager.query(
      `INSERT INTO ${T.planCharges} (plan_id, meter, position, aggregate, free_allowance, model, unit_price, package_size, package_price)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        id,
        charge.meter,
        position,
        charge.aggregate,
        charge.freeAllowance,
        p.model,
        p.model === 'per_unit' ? p.unitPrice : null,
        p.model === 'package' ? p.packageSize : null,
        p.model === 'package' ? p.packagePrice : null,
      ],
    );
    if (p.model === 'graduated' || p.model === 'volume') {
      for (const [tierPosition, tier] of p.tiers.entries()) {
        await manager.query(`INSERT INTO ${T.planChargeTiers} (plan_id, meter, position, up_to, unit_price, flat_fee) VALUES ($1, $2, $3, $4, $5, $6)`, [
          id,
          charge.meter,
          tierPosition,
          tier.upTo,
          tier.unitPrice,
          tier.flatFee,
        ]);
      }
    }
  }
  return id;
}

export async function loadPlans(manager: EntityManager, ids?: readonly string[]): Promise<PlanView[]> {
  const filter = ids ? `WHERE id = ANY($1::uuid[])` : '';
  const params = ids ? [ids] : [];
  const plans = await queryRows<PlanRow>(manager, `SELECT id, name, currency, created_at FROM ${T.plans} ${filter} ORDER BY created_at, id`, params);
  if (plans.length === 0) return [];
  const planIds = plans.map((p) => p.id);
  const charges = await queryRows<ChargeRow>(
    manager,
    `SELECT plan_id, meter, aggregate, free_allowance::text, model, unit_price::text, package_size::text, package_price::text
     FROM ${T.planCharges} WHERE plan_id = ANY($1::uuid[]) ORDER BY plan_id, position`,
    [planIds],
  );
  const tiers = await queryRows<TierRow>(
    manager,
    `SELECT plan_id, meter, up_to::text, unit_price::text, flat_fee::text FROM ${T.planChargeTiers} WHERE plan_id = ANY($1::uuid[]) ORDER BY plan_id, meter, position`,
    [planIds],
  );
  return plans.map((plan) => ({
    id: plan.id,
    name: plan.name,
    currency: plan.currency,
    createdAt: plan.created_at.toISOString(),
    charges: charges.filter((c) => c.plan_id === plan.id).map((c) => chargeOf(c, tiers.filter((t) => t.plan_id === plan.id && t.meter === c.meter))),
  }));
}

export async function loadPlan(manager: EntityManager, id: string): Promise<PlanView | null> {
  const [plan] = await loadPlans(manager, [id]);
  return plan ?? null;
}

function chargeOf(row: ChargeRow, tierRows: TierRow[]): Charge {
  const tiers: PriceTier[] = tierRows.map((t) => ({ upTo: t.up_to === null ? null : text(t.up_to), unitPrice: text(t.unit_price), flatFee: text(t.flat_fee) }));
  const pricing: Pricing =
    row.model === 'per_unit'
      ? { model: 'per_unit', unitPrice: text(row.unit_price ?? '0') }
      : row.model === 'package'
        ? { model: 'package', packageSize: text(row.package_size ?? '1'), packagePrice: text(row.package_price ?? '0') }
        : { model: row.model, tiers };
  return ChargeSchema.parse({ meter: row.meter, freeAllowance: text(row.free_allowance), aggregate: row.aggregate, pricing });
}

export interface PlanForPeriod {
  plan: PlanView;
  /** Usage is billed from here: the period start, or the hour of a tenant's first plan if that came later. */
  usageFrom: Date;
}

/**
 * The plan that bills a period: the one in effect at the period's start. A tenant whose first
 * plan starts inside the period is billed under it from that (whole) hour on. A change of plan
 * inside a period takes effect with the next period, so one invoice has one plan and currency.
 */
export async function planForPeriod(
  manager: EntityManager,
  tenantId: string,
  start: Date,
  end: Date,
  load: (planId: string) => Promise<PlanView | null> = (planId) => loadPlan(manager, planId),
): Promise<PlanForPeriod | null> {
  const [atStart] = await queryRows<{ plan_id: string }>(
    manager,
    `SELECT plan_id FROM ${T.tenantPlans} WHERE tenant_id = $1 AND effective_from <= $2 ORDER BY effective_from DESC LIMIT 1`,
    [tenantId, start],
  );
  if (atStart) {
    const plan = await load(atStart.plan_id);
    return plan ? { plan, usageFrom: start } : null;
  }
  const [first] = await queryRows<{ plan_id: string; effective_from: Date }>(
    manager,
    `SELECT plan_id, effective_from FROM ${T.tenantPlans} WHERE tenant_id = $1 AND effective_from < $2 ORDER BY effective_from ASC LIMIT 1`,
    [tenantId, end],
  );
  if (!first) return null;
  const plan = await load(first.plan_id);
  const hour = 3_600_000;
  return plan ? { plan, usageFrom: new Date(Math.floor(first.effective_from.getTime() / hour) * hour) } : null;
}

/** Tenants that have (had) a plan in effect before `before`: the ones an invoice run looks at. */
export async function tenantsWithPlans(manager: EntityManager, before: Date): Promise<string[]> {
  const rows = await queryRows<{ tenant_id: string }>(manager, `SELECT DISTINCT tenant_id FROM ${T.tenantPlans} WHERE effective_from < $1 ORDER BY tenant_id`, [before]);
  return rows.map((r) => r.tenant_id);
}
