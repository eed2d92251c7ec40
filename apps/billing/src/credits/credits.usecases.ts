import { randomUUID } from 'node:crypto';
import { ErrorCode, GureumError, type CreditsView } from '@gureum/contracts';
import type { DataSource, EntityManager } from 'typeorm';
import { inTransaction, lockTenant, queryRows, T } from '../database/sql';
import { dec, fitsMinorUnit, formatMoney } from '../money/money';

/** A tenant's currency is its current plan's (else its earliest future plan's); null without any plan. */
export async function tenantCurrency(manager: EntityManager, tenantId: string, now: Date): Promise<string | null> {
  const [row] = await queryRows<{ currency: string }>(
    manager,
    `SELECT p.currency FROM ${T.tenantPlans} tp JOIN ${T.plans} p ON p.id = tp.plan_id WHERE tp.tenant_id = $1
     ORDER BY (tp.effective_from <= $2) DESC, CASE WHEN tp.effective_from <= $2 THEN -extract(epoch FROM tp.effective_from) ELSE extract(epoch FROM tp.effective_from) END
     LIMIT 1`,
    [tenantId, now],
  );
  return row?.currency ?? null;
}

export async function creditsView(manager: EntityManager, tenantId: string, currency: string): Promise<CreditsView> {
  const entries = await queryRows<{ kind: 'grant' | 'invoice' | 'credit_note'; amount: string; invoice_id: string | null; credit_note_invoice: string | null; created_at: Date }>(
    manager,
    `SELECT l.kind, l.amount::text, l.invoice_id, n.invoice_id AS credit_note_invoice, l.created_at FROM ${T.creditLedger} l
     LEFT JOIN ${T.creditNotes} n ON n.id = l.credit_note_id
     WHERE l.tenant_id = $1 AND l.currency = $2 ORDER BY l.created_at DESC, l.id LIMIT 200`,
    [tenantId, currency],
  );
  const [sum] = await queryRows<{ balance: string }>(manager, `SELECT COALESCE(sum(amount), 0)::text AS balance FROM ${T.creditLedger} WHERE tenant_id = $1 AND currency = $2`, [
    tenantId,
    currency,
  ]);
  return {
    tenantId,
    currency,
    balance: formatMoney(dec(sum?.balance ?? '0'), currency),
    entries: entries.map((e) => ({
      kind: e.kind,
      amount: formatMoney(dec(e.amount), currency),
      invoiceId: e.invoice_id ?? e.credit_note_invoice,
      createdAt: e.created_at.toISOString(),
    })),
  };
}

/** Operator: add prepaid credit, in the tenant's currency; spent by the next finalised invoices. */
export class GrantCreditsUseCase {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: () => Date,
  ) {}

  async execute(tenantId: string, amount: string): Promise<CreditsView> {
    return inTransaction(this.dataSource, async (manager) => {
      await lockTenant(manager, tenantId);
      const currency = await tenantCurrency(manager, tenantId, this.clock());
      if (!currency) throw new GureumError(ErrorCode.InvalidState, `tenant ${tenantId} has no plan, so no currency to hold credits in`);
      if (!dec(amount).gt(0)) throw new GureumError(ErrorCode.ValidationFailed, 'amount must be greater than zero');
      if (!fitsMinorUnit(amount, currency)) throw new GureumError(ErrorCode.ValidationFailed, `amount has more digits than ${currency} allows`);
      await manager.query(`INSERT INTO ${T.creditLedger} (id, tenant_id, currency, amount, kind) VALUES ($1, $2, $3, $4, 'grant')`, [randomUUID(), tenantId, currency, amount]);
      return creditsView(manager, tenantId, currency);
    });
  }
}

export class GetCreditsUseCase {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: () => Date,
  ) {}

  async execute(tenantId: string): Promise<CreditsView> {
    const currency = await tenantCurrency(this.dataSource.manager, tenantId, this.clock());
    if (!currency) return { tenantId, currency: null, balance: '0.00', entries: [] };
    return creditsView(this.dataSource.manager, tenantId, currency);
  }
}
