import type { EntityManager } from 'typeorm';

export { queryRows, inTransaction } from '@gureum/database';

/** The schema this service owns; raw SQL names it explicitly. */
export const SCHEMA = 'billing';
export const T = {
  plans: `"${SCHEMA}"."plans"`,
  planCharges: `"${SCHEMA}"."plan_charges"`,
  planChargeTiers: `"${SCHEMA}"."plan_charge_tiers"`,
  tenantPlans: `"${SCHEMA}"."tenant_plans"`,
  invoices: `"${SCHEMA}"."invoices"`,
  invoiceLines: `"${SCHEMA}"."invoice_lines"`,
  creditNotes: `"${SCHEMA}"."credit_notes"`,
  creditLedger: `"${SCHEMA}"."credit_ledger"`,
  budgets: `"${SCHEMA}"."budgets"`,
  budgetAlerts: `"${SCHEMA}"."budget_alerts"`,
} as const;

/** Serialises billing work on one tenant (invoice recompute, finalisation, credits) until the transaction ends. */
export async function lockTenant(manager: EntityManager, tenantId: string): Promise<void> {
  await manager.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`billing.tenant.${tenantId}`]);
}
