import { randomUUID } from 'node:crypto';
import { GureumError, UsageQueryRequestSchema, type Caller, type OperatorCaller, type PlanInput, type UsageRow } from '@gureum/contracts';
import { connectNats, type NatsConnection } from '@gureum/messaging';
import { createTestDatabase, startNats, waitFor, type TestDatabase, type TestNats } from '@gureum/testing';
import { startBillingUnderTest, type BillingUnderTest } from './testing/billing-under-test';

const HOUR = 3_600_000;
const MINUTE = 60_000;
/** The first billing period (one hour) of the test, on a fixed date so every amount is known. */
const P0 = Date.parse('2026-03-10T10:00:00.000Z');
const P1 = P0 + HOUR;
const iso = (ms: number) => new Date(ms).toISOString();

const TENANT_A = randomUUID();
const TENANT_B = randomUUID();
const TENANT_C = randomUUID();
const operator: OperatorCaller = { principalId: 'op', role: 'operator', requestId: 'r-op' };
const tenant = (tenantId: string): Caller => ({ principalId: 'key', tenantId, role: 'owner', requestId: randomUUID() });

let database: TestDatabase;
let nats: TestNats;
let billing: BillingUnderTest;
let meteringStandIn: NatsConnection;
let now = P0 + 30 * MINUTE;

/** What the metering stand-in answers: tenant → hour → meter → quantity. */
const usage = new Map<string, Map<number, Record<string, string>>>();
function setUsage(tenantId: string, hour: number, meters: Record<string, string>): void {
  const byHour = usage.get(tenantId) ?? new Map<number, Record<string, string>>();
  byHour.set(hour, meters);
  usage.set(tenantId, byHour);
}

/**
 * Answers `metering.cmd.usage.query.v1` on the real NATS server the way metering does
 * (Nest's reply envelope, the contract's rows), from the `usage` table above.
 */
async function startMeteringStandIn(): Promise<NatsConnection> {
  const nc = await connectNats({ url: nats.url, ...nats.control, name: 'metering-stand-in' });
  const sub = nc.subscribe('metering.cmd.usage.query.v1');
  void (async () => {
    for await (const msg of sub) {
      const envelope = msg.json<{ id: string; data: unknown }>();
      const query = UsageQueryRequestSchema.parse(envelope.data);
      const tenantId = 'tenantId' in query ? query.tenantId : undefined;
      const rows: UsageRow[] = [];
      for (const [hour, meters] of usage.get(tenantId ?? '') ?? []) {
        if (hour < Date.parse(query.from) || hour >= Date.parse(query.to)) continue;
        for (const [meter, quantity] of Object.entries(meters)) rows.push({ periodStart: iso(hour), tenantId: tenantId ?? '', meter, unit: 'unit', workloadId: null, quantity });
      }
      msg.respond(JSON.stringify({ id: envelope.id, response: { from: query.from, to: query.to, groupBy: 'meter', granularity: 'hour', rows }, isDisposed: true }));
    }
  })();
  await nc.flush();
  return nc;
}

const PLAN: PlanInput = {
  name: 'standard',
  currency: 'USD',
  charges: [
    { meter: 'vcpu_seconds', pricing: { model: 'per_unit', unitPrice: '0.001' } },
    {
      meter: 'memory_gib_hours',
      freeAllowance: '1',
      pricing: { model: 'graduated', tiers: [{ upTo: '10', unitPrice: '0.10' }, { upTo: null, unitPrice: '0.05' }] },
    },
    { meter: 'network_bytes', pricing: { model: 'package', packageSize: '1000000', packagePrice: '0.09' } },
    { meter: 'cpu_seconds', pricing: { model: 'volume', tiers: [{ upTo: '100', unitPrice: '0.01' }, { upTo: null, unitPrice: '0.005' }] } },
  ],
};

async function invoiceRows(tenantId: string): Promise<Array<{ id: string; period_start: Date; status: string; total: string }>> {
  const { rows } = await billing.db.query<{ id: string; period_start: Date; status: string; total: string }>(
    `SELECT id, period_start, status, total::text FROM billing.invoices WHERE tenant_id = $1 ORDER BY period_start`,
    [tenantId],
  );
  return rows;
}

async function expectGureumError(promise: Promise<unknown>, code: string): Promise<void> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GureumError);
  expect((error as GureumError).code).toBe(code);
}

let planId: string;

beforeAll(async () => {
  database = await createTestDatabase('billing');
  nats = await startNats();
  meteringStandIn = await startMeteringStandIn();
  billing = await startBillingUnderTest({ databaseUrl: database.url, natsUrl: nats.url, control: nats.control, graceMs: 0, clock: () => new Date(now) });
});

afterAll(async () => {
  await meteringStandIn?.drain();
  await billing?.close();
  await nats?.stop();
  await database?.drop();
});

describe('invoice lifecycle', () => {
  it('creates a plan and puts tenants on it', async () => {
    const plan = await billing.api.request('billing.cmd.plan.create.v1', { caller: operator, plan: PLAN });
    planId = plan.id;
    expect(plan.charges.map((c) => [c.meter, c.pricing.model, c.freeAllowance])).toEqual([
      ['vcpu_seconds', 'per_unit', '0'],
      ['memory_gib_hours', 'graduated', '1'],
      ['network_bytes', 'package', '0'],
      ['cpu_seconds', 'volume', '0'],
    ]);
    expect((await billing.api.request('billing.cmd.plan.list.v1', { caller: operator })).items.map((p) => p.id)).toContain(planId);
    await expectGureumError(billing.api.request('billing.cmd.plan.create.v1', { caller: operator, plan: { ...PLAN, currency: 'KWD' } }), 'validation_failed');

    for (const t of [TENANT_A, TENANT_B]) await billing.api.request('billing.cmd.plan.assign.v1', { caller: operator, tenantId: t, planId, effectiveFrom: iso(P0) });
    // C joined two periods earlier and has never been invoiced: the run must catch up.
    await billing.api.request('billing.cmd.plan.assign.v1', { caller: operator, tenantId: TENANT_C, planId, effectiveFrom: iso(P0 - 2 * HOUR) });
  });

  it('computes the open period as a draft from the rollups, and recomputes it when late usage arrives', async () => {
    setUsage(TENANT_A, P0, { vcpu_seconds: '3600' });
    setUsage(TENANT_A, P0 - HOUR, { vcpu_seconds: '99999' }); // before A's plan: never billed
    setUsage(TENANT_C, P0 - 2 * HOUR, { vcpu_seconds: '1000' });
    await billing.api.request('billing.cmd.budget.set.v1', { caller: tenant(TENANT_A), budget: { amount: '5.00', alertThresholdsPercent: [100, 50], hardLimit: true } });

    const report = await billing.app.runInvoices();
    expect(report.failedTenants).toEqual([]);
    const [draft] = await invoiceRows(TENANT_A);
    expect(draft).toMatchObject({ status: 'draft', total: '3.60' }); // 3600 × 0.001
    expect((await invoiceRows(TENANT_A)).length).toBe(1);

    // Late usage for the same hour (the whole of it now), still inside the open period.
    setUsage(TENANT_A, P0, { vcpu_seconds: '3600', memory_gib_hours: '21', network_bytes: '2500000', cpu_seconds: '150.123456789' });
    now = P0 + 50 * MINUTE;
    await billing.app.runInvoices();
    const invoice = await billing.api.request('billing.cmd.invoice.get.v1', { caller: tenant(TENANT_A), invoiceId: draft!.id });
    // 3.60 | (21 − 1 free) = 10 × 0.10 + 10 × 0.05 = 1.50 | 2.5 MB → 3 packages × 0.09 = 0.27 | 150.123457 × 0.005 = 0.750617… → 0.75
    expect(invoice.lines.map((l) => [l.meter, l.quantity, l.billableQuantity, l.amount])).toEqual([
      ['vcpu_seconds', '3600', '3600', '3.60'],
      ['memory_gib_hours', '21', '20', '1.50'],
      ['network_bytes', '2500000', '2500000', '0.27'],
      ['cpu_seconds', '150.123457', '150.123457', '0.75'],
    ]);
    expect(invoice).toMatchObject({ id: draft!.id, status: 'draft', currency: 'USD', total: '6.12', amountDue: '6.12', periodStart: iso(P0), periodEnd: iso(P1) });
    for (const line of invoice.lines) expect([line.usageFrom, line.usageTo]).toEqual([iso(P0), iso(P1)]);
    expect(invoice.lines.map((l) => l.rollupHours)).toEqual([1, 1, 1, 1]);
    const { rows } = await billing.db.query<{ rollups: unknown }>(`SELECT rollups FROM billing.invoice_lines WHERE invoice_id = $1 AND meter = 'cpu_seconds'`, [draft!.id]);
    expect(rows[0]?.rollups).toEqual([{ hour: iso(P0), quantity: '150.123456789' }]);
  });

  it('catches up on periods a tenant was never invoiced for', async () => {
    const c = await invoiceRows(TENANT_C);
    expect(c.map((i) => [i.period_start.toISOString(), i.status, i.total])).toEqual([
      [iso(P0 - 2 * HOUR), 'finalised', '1.00'],
      [iso(P0 - HOUR), 'finalised', '0.00'],
      [iso(P0), 'draft', '0.00'],
    ]);
  });

  it('alerts once per budget threshold and period, and the hard limit refuses admission', async () => {
    const budget = await billing.api.request('billing.cmd.budget.get.v1', { caller: tenant(TENANT_A) });
    expect(budget).toMatchObject({ amount: '5.00', alertThresholdsPercent: [50, 100], hardLimit: true, currency: 'USD', costSoFar: '6.12' });
    expect(budget.alerts.map((a) => [a.thresholdPercent, a.costAtAlert])).toEqual([
      [50, '3.60'],
      [100, '6.12'],
    ]);
    await billing.app.runInvoices();
    const { rows } = await billing.db.query<{ n: string }>(`SELECT count(*) AS n FROM billing.outbox WHERE subject = 'evt.billing.budget.v1' AND payload->>'tenantId' = $1`, [TENANT_A]);
    expect(rows[0]?.n).toBe('2');
    await waitFor(
      async () => {
        const r = await billing.db.query<{ n: string }>(`SELECT count(*) AS n FROM billing.outbox WHERE published_at IS NULL`);
        return r.rows[0]?.n === '0' ? true : undefined;
      },
      { timeoutMs: 10_000, what: 'outbox drained to JetStream' },
    );
    expect(await billing.api.request('billing.cmd.admission.check.v1', { tenantId: TENANT_A })).toMatchObject({ allowed: false });
    expect(await billing.api.request('billing.cmd.admission.check.v1', { tenantId: TENANT_B })).toEqual({ allowed: true, reason: null });
  });

  it('finalises after the period (grace 0), applies credits, and never changes the invoice again', async () => {
    const planless = randomUUID();
    await expectGureumError(billing.api.request('billing.cmd.credits.grant.v1', { caller: operator, tenantId: planless, amount: '1.00' }), 'invalid_state');
    expect(await billing.api.request('billing.cmd.credits.get.v1', { caller: tenant(planless) })).toEqual({ tenantId: planless, currency: null, balance: '0.00', entries: [] });
    expect(await billing.api.request('billing.cmd.cost.get.v1', { caller: tenant(planless) })).toMatchObject({ currency: null, costSoFar: '0.00', forecast: '0.00' });
    const granted = await billing.api.request('billing.cmd.credits.grant.v1', { caller: operator, tenantId: TENANT_A, amount: '2.00' });
    expect(granted.balance).toBe('2.00');
    const [draft] = await invoiceRows(TENANT_A);
    await expectGureumError(billing.api.request('billing.cmd.invoice.finalize.v1', { caller: operator, invoiceId: draft!.id }), 'invalid_state');

    now = P1 + 1 * MINUTE;
    await billing.app.runInvoices();
    const final = await billing.api.request('billing.cmd.invoice.get.v1', { caller: operator, invoiceId: draft!.id });
    expect(final).toMatchObject({ status: 'finalised', total: '6.12', creditsApplied: '2.00', amountDue: '4.12' });
    expect((await billing.api.request('billing.cmd.credits.get.v1', { caller: tenant(TENANT_A) })).balance).toBe('0.00');

    // Usage that arrives after finalisation changes nothing, however often the run repeats.
    setUsage(TENANT_A, P0, { vcpu_seconds: '999999' });
    await billing.app.runInvoices();
    await billing.app.runInvoices();
    expect(await billing.api.request('billing.cmd.invoice.get.v1', { caller: operator, invoiceId: draft!.id })).toEqual(final);
    expect(await billing.api.request('billing.cmd.invoice.finalize.v1', { caller: operator, invoiceId: draft!.id })).toEqual(final);
    expect((await invoiceRows(TENANT_A)).filter((i) => i.period_start.getTime() === P0)).toHaveLength(1);

    // Not even a direct write to the database gets through.
    for (const statement of [
      `UPDATE billing.invoices SET total = 0, amount_due = 0, credits_applied = 0 WHERE id = $1`,
      `DELETE FROM billing.invoices WHERE id = $1`,
      `UPDATE billing.invoice_lines SET amount = 0 WHERE invoice_id = $1`,
      `DELETE FROM billing.invoice_lines WHERE invoice_id = $1`,
      `INSERT INTO billing.invoice_lines SELECT invoice_id, 'extra', 99, unit, aggregate, quantity, free_quantity, billable_quantity, pricing, amount, usage_from, usage_to, rollup_hours, rollups FROM billing.invoice_lines WHERE invoice_id = $1 LIMIT 1`,
    ]) {
      await expect(billing.db.query(statement, [draft!.id])).rejects.toThrow(/finalised/);
    }
    expect(await billing.api.request('billing.cmd.invoice.get.v1', { caller: operator, invoiceId: draft!.id })).toEqual(final);
  });

  it('corrects a finalised invoice with credit notes, at most up to its total, credited to the balance', async () => {
    const [p0, p1] = await invoiceRows(TENANT_A);
    const note = await billing.api.request('billing.cmd.credit-note.create.v1', { caller: operator, invoiceId: p0!.id, amount: '1.50', reason: 'outage' });
    expect(note).toMatchObject({ invoiceId: p0!.id, tenantId: TENANT_A, amount: '1.50', currency: 'USD' });
    await expectGureumError(billing.api.request('billing.cmd.credit-note.create.v1', { caller: operator, invoiceId: p0!.id, amount: '4.63', reason: 'too much' }), 'conflict');
    await expectGureumError(billing.api.request('billing.cmd.credit-note.create.v1', { caller: operator, invoiceId: p1!.id, amount: '1.00', reason: 'draft' }), 'invalid_state');
    const invoice = await billing.api.request('billing.cmd.invoice.get.v1', { caller: tenant(TENANT_A), invoiceId: p0!.id });
    expect(invoice).toMatchObject({ status: 'finalised', total: '6.12', amountDue: '4.12', creditNotesTotal: '1.50' });
    expect(invoice.creditNotes.map((n) => n.reason)).toEqual(['outage']);
    const credits = await billing.api.request('billing.cmd.credits.get.v1', { caller: tenant(TENANT_A) });
    expect(credits.balance).toBe('1.50');
    expect(credits.entries.map((e) => [e.kind, e.amount])).toEqual([
      ['credit_note', '1.50'],
      ['invoice', '-2.00'],
      ['grant', '2.00'],
    ]);
    await expect(billing.db.query(`UPDATE billing.credit_notes SET amount = 100`)).rejects.toThrow(/append-only/);
    await expect(billing.db.query(`DELETE FROM billing.credit_ledger`)).rejects.toThrow(/append-only/);
  });

  it('shows cost so far this period with a linear forecast to its end', async () => {
    setUsage(TENANT_A, P1, { vcpu_seconds: '900' });
    now = P1 + 15 * MINUTE;
    // 900 × 0.001 = 0.90 after a quarter of the hour → 3.60 by its end
    expect(await billing.api.request('billing.cmd.cost.get.v1', { caller: tenant(TENANT_A) })).toEqual({
      currency: 'USD',
      periodStart: iso(P1),
      periodEnd: iso(P1 + HOUR),
      costSoFar: '0.90',
      forecast: '3.60',
    });
    await billing.app.runInvoices();
    const summary = await billing.api.request('billing.cmd.summary.get.v1', { caller: operator });
    expect(summary).toMatchObject({ currency: 'USD', periodStart: iso(P1), revenue: '0.90', tenants: 3 });
  });

  it('keeps tenants apart', async () => {
    const [a] = await invoiceRows(TENANT_A);
    await expectGureumError(billing.api.request('billing.cmd.invoice.get.v1', { caller: tenant(TENANT_B), invoiceId: a!.id }), 'not_found');
    const list = await billing.api.request('billing.cmd.invoice.list.v1', { caller: tenant(TENANT_B), tenantId: TENANT_A });
    expect(list.items.length).toBeGreaterThan(0);
    expect(list.items.every((i) => i.tenantId === TENANT_B)).toBe(true);
    const all = await billing.api.request('billing.cmd.invoice.list.v1', { caller: operator, tenantId: TENANT_A, limit: 1 });
    expect(all.items).toHaveLength(1);
    const next = await billing.api.request('billing.cmd.invoice.list.v1', { caller: operator, tenantId: TENANT_A, limit: 1, cursor: all.nextCursor ?? '' });
    expect(next.items.map((i) => i.tenantId)).toEqual([TENANT_A]);
    expect(next.items[0]?.id).not.toBe(all.items[0]?.id);
  });
});

describe('interrupted invoice runs', () => {
  const tenants = Array.from({ length: 6 }, () => randomUUID());
  const P2 = P1 + HOUR;

  async function invoicesInP2(): Promise<Map<string, number>> {
    const { rows } = await billing.db.query<{ tenant_id: string; n: string }>(`SELECT tenant_id, count(*) AS n FROM billing.invoices WHERE period_start = $1 GROUP BY tenant_id`, [
      new Date(P2),
    ]);
    return new Map(rows.map((r) => [r.tenant_id, Number(r.n)]));
  }

  it('a run that dies after some tenants, or mid-transaction, is completed by the next one without duplicates', async () => {
    for (const t of tenants) {
      await billing.api.request('billing.cmd.plan.assign.v1', { caller: operator, tenantId: t, planId, effectiveFrom: iso(P2) });
      setUsage(t, P2, { vcpu_seconds: '1000' });
    }
    now = P2 + 10 * MINUTE;
    const everyone = (await billing.db.query<{ tenant_id: string }>(`SELECT DISTINCT tenant_id FROM billing.tenant_plans`)).rows.map((r) => r.tenant_id);

    // 1. The run crashes after its third tenant.
    await billing.app.close();
    await billing.restart({
      hooks: {
        afterTenant: (_tenantId, index) => {
          if (index === 2) throw new Error('injected crash after three tenants');
        },
      },
    });
    await expect(billing.app.runInvoices()).rejects.toThrow(/injected crash/);
    expect((await invoicesInP2()).size).toBe(3);

    // 2. The process is killed in the middle of a tenant's transaction (its connections dropped before COMMIT).
    const victim = [...everyone].sort()[4]!;
    await billing.app.close();
    await billing.restart({
      hooks: {
        beforeCommit: async (tenantId) => {
          if (tenantId === victim) await billing.app.kill();
        },
      },
    });
    await billing.app.runInvoices().catch(() => undefined);
    const afterKill = await invoicesInP2();
    expect(afterKill.has(victim)).toBe(false);
    const { rows: orphanLines } = await billing.db.query(
      `SELECT 1 FROM billing.invoice_lines l JOIN billing.invoices i ON i.id = l.invoice_id WHERE i.tenant_id = $1 AND i.period_start = $2`,
      [victim, new Date(P2)],
    );
    expect(orphanLines).toHaveLength(0);

    // 3. Restarted without faults: every tenant has exactly one invoice for the period, with the right total.
    await billing.restart({ hooks: {} });
    const report = await billing.app.runInvoices();
    expect(report.failedTenants).toEqual([]);
    const final = await invoicesInP2();
    expect([...final.keys()].sort()).toEqual([...everyone].sort());
    expect([...final.values()].every((n) => n === 1)).toBe(true);
    for (const t of tenants) expect((await invoiceRows(t)).map((i) => i.total)).toEqual(['1.00']);
  });
});
