/**
 * Billing through the public API, with every service as a real process (billing with one-hour
 * periods and a 1 s invoice run): plans, assignment, invoices as JSON/CSV/PDF, credits, cost,
 * and the hard budget limit refusing a workload create.
 */
import { ensureBusyboxImage, waitFor } from '@gureum/testing';
import { ApiClient, containerSpec, type Problem } from './support/api-client';
import { System } from './support/system';

const system = new System({
  label: 'billing',
  agentCapacity: { cpuMillis: 2000, memoryMiB: 2048, pids: 4096 },
  metering: { sampleMs: 5000 },
  billing: { period: 'PT1H', graceSeconds: 1, runIntervalMs: 1000 },
});
const HOUR = 3_600_000;
let operator: ApiClient;
let owner: ApiClient;
let tenantId: string;

interface InvoiceSummary {
  id: string;
  tenantId: string;
  status: string;
  currency: string;
  periodStart: string;
  total: string;
  amountDue: string;
}

beforeAll(async () => {
  await ensureBusyboxImage();
  await system.start();
  operator = new ApiClient(system.apiUrl, await system.createOperatorKey('billing-ops'));
  const tenant = await system.createTenant('billing-e2e');
  tenantId = tenant.id;
  owner = new ApiClient(system.apiUrl, tenant.apiKey);
}, 240_000);

afterAll(async () => {
  await system.stop();
}, 60_000);

describe('billing through the api', () => {
  it('bills a tenant from its plan: finalised invoices of past periods, a draft of the current one, CSV and PDF', async () => {
    const plan = await operator.call<{ id: string; currency: string }>('POST', '/v1/admin/plans', {
      name: 'e2e',
      currency: 'EUR',
      charges: [
        { meter: 'vcpu_seconds', freeAllowance: '10', pricing: { model: 'per_unit', unitPrice: '0.00002' } },
        { meter: 'memory_gib_hours', pricing: { model: 'package', packageSize: '1', packagePrice: '0.01' } },
      ],
    });
    expect(plan.status).toBe(201);
    const badPlan = await operator.call<Problem>('POST', '/v1/admin/plans', { name: 'float', currency: 'EUR', charges: [{ meter: 'vcpu_seconds', pricing: { model: 'per_unit', unitPrice: 0.1 } }] });
    expect(badPlan.status).toBe(400);
    expect((await owner.call('POST', '/v1/admin/plans', { name: 'x', currency: 'EUR', charges: [] })).status).toBe(403);

    const start = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
    const assigned = await operator.call<{ currency: string }>('PUT', `/v1/admin/tenants/${tenantId}/plan`, { planId: plan.body.id, effectiveFrom: new Date(start).toISOString() });
    expect(assigned.status).toBe(200);
    expect(assigned.body.currency).toBe('EUR');

    const invoices = await waitFor(
      async () => {
        const res = await owner.call<{ items: InvoiceSummary[] }>('GET', '/v1/invoices');
        const finalised = res.body.items.filter((i) => i.status === 'finalised');
        return finalised.length >= 2 && res.body.items.some((i) => i.status === 'draft') ? res.body.items : undefined;
      },
      { timeoutMs: 60_000, what: 'two finalised invoices and a draft' },
    );
    expect(new Set(invoices.map((i) => i.periodStart)).size).toBe(invoices.length);
    expect(invoices.every((i) => i.tenantId === tenantId && i.currency === 'EUR')).toBe(true);
    const past = invoices.find((i) => i.status === 'finalised' && i.periodStart === new Date(start).toISOString());
    expect(past).toBeDefined();

    const detail = await owner.call<InvoiceSummary & { lines: Array<{ meter: string; amount: string; usageFrom: string; usageTo: string }> }>('GET', `/v1/invoices/${past!.id}`);
    expect(detail.status).toBe(200);
    expect(detail.body.lines.map((l) => l.meter)).toEqual(['vcpu_seconds', 'memory_gib_hours']);
    for (const line of detail.body.lines) expect([line.usageFrom, line.usageTo]).toEqual([new Date(start).toISOString(), new Date(start + HOUR).toISOString()]);

    const csv = await owner.call<string>('GET', `/v1/invoices/${past!.id}/csv`);
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(csv.body.split('\r\n')[0]).toMatch(/^invoice_id,tenant_id,status,currency,period_start/);
    expect(csv.body).toContain(`,AMOUNT_DUE,,,,,,,,,${detail.body.amountDue}`);

    const pdf = await owner.call<string>('GET', `/v1/invoices/${past!.id}/pdf`);
    expect(pdf.status).toBe(200);
    expect(pdf.headers.get('content-type')).toBe('application/pdf');
    expect(pdf.body.startsWith('%PDF-')).toBe(true);
    expect(pdf.body).toContain(`(Total: ${detail.body.total} EUR) Tj`);

    // Another tenant cannot see it; operators can.
    const other = await system.createTenant('billing-other');
    expect((await new ApiClient(system.apiUrl, other.apiKey).call<Problem>('GET', `/v1/invoices/${past!.id}`)).status).toBe(404);
    const adminList = await operator.call<{ items: InvoiceSummary[] }>('GET', `/v1/admin/invoices?tenantId=${tenantId}`);
    expect(adminList.body.items.map((i) => i.id)).toContain(past!.id);

    // A finalised invoice is corrected by a credit note, never changed; its period had no usage, so nothing is left to credit.
    const note = await operator.call<Problem>('POST', `/v1/admin/invoices/${past!.id}/credit-notes`, { amount: '0.01', reason: 'e2e' });
    expect(note.status).toBe(409);
    const draft = invoices.find((i) => i.status === 'draft')!;
    expect((await operator.call<Problem>('POST', `/v1/admin/invoices/${draft.id}/finalize`)).status).toBe(409);
  });

  it('shows cost, credits and the summary with money as decimal strings', async () => {
    const cost = await owner.call<{ currency: string; costSoFar: string; forecast: string; periodStart: string; periodEnd: string }>('GET', '/v1/usage/cost');
    expect(cost.status).toBe(200);
    expect(cost.body.currency).toBe('EUR');
    expect(cost.body.costSoFar).toMatch(/^[0-9]+\.[0-9]{2}$/);
    expect(Date.parse(cost.body.periodEnd) - Date.parse(cost.body.periodStart)).toBe(HOUR);

    expect((await operator.call('POST', `/v1/admin/tenants/${tenantId}/credits`, { amount: '12.5' })).status).toBe(200);
    expect((await operator.call<Problem>('POST', `/v1/admin/tenants/${tenantId}/credits`, { amount: 12.5 })).status).toBe(400);
    const credits = await owner.call<{ balance: string; currency: string }>('GET', '/v1/credits');
    expect(credits.body).toMatchObject({ balance: '12.50', currency: 'EUR' });

    const summary = await operator.call<{ currency: string; tenants: number; revenue: string }>('GET', '/v1/admin/billing/summary?currency=EUR');
    expect(summary.status).toBe(200);
    expect(summary.body.currency).toBe('EUR');
    expect(summary.body.tenants).toBeGreaterThanOrEqual(1);
  });

  it('refuses new workloads while the hard budget limit is reached, and admits them again when it is lifted', async () => {
    const set = await owner.call<{ amount: string; hardLimit: boolean }>('PUT', '/v1/budget', { amount: '0', alertThresholdsPercent: [100], hardLimit: true });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ amount: '0.00', hardLimit: true });

    const refused = await owner.createWorkload(containerSpec('over-budget'));
    expect(refused.status).toBe(403);
    expect(refused.headers.get('content-type')).toBe('application/problem+json');
    expect(refused.body.detail).toMatch(/hard limit/);

    const alerts = await waitFor(
      async () => {
        const budget = await owner.call<{ alerts: Array<{ thresholdPercent: number }> }>('GET', '/v1/budget');
        return budget.body.alerts.length > 0 ? budget.body.alerts : undefined;
      },
      { timeoutMs: 20_000, what: 'a budget alert' },
    );
    expect(alerts.map((a) => a.thresholdPercent)).toEqual([100]);

    expect((await owner.call('PUT', '/v1/budget', { amount: '1000', alertThresholdsPercent: [100], hardLimit: false })).status).toBe(200);
    const admitted = await owner.createWorkload(containerSpec('within-budget', { resources: { cpuMillis: 50, memoryMiB: 16, pids: 16 } }));
    expect(admitted.status).toBe(201);
    await owner.call('DELETE', `/v1/workloads/${admitted.body.id}`);
  });

  it('a billing process killed with SIGKILL in the middle of an invoice run is completed by its restart: every period invoiced exactly once', async () => {
    const plans = await operator.call<{ items: Array<{ id: string }> }>('GET', '/v1/admin/plans');
    const planId = plans.body.items[0]!.id;
    // Real tenants: the plan route refuses ids the api does not know (404).
    const tenants: string[] = [];
    for (let i = 0; i < 8; i += 1) tenants.push((await system.createTenant(`billing-crash-${i}`)).id);
    const firstHour = Math.floor(Date.now() / HOUR) * HOUR - 24 * HOUR;
    for (const id of tenants) {
      const res = await operator.call('PUT', `/v1/admin/tenants/${id}/plan`, { planId, effectiveFrom: new Date(firstHour).toISOString() });
      expect(res.status).toBe(200);
    }
    const count = async () =>
      Number((await system.query<{ n: string }>(`SELECT count(*) AS n FROM billing.invoices WHERE tenant_id = ANY($1::uuid[])`, [tenants])).rows[0]?.n ?? 0);
    // 24 past hours to finalise per tenant: kill the process as soon as the backfill has begun.
    await waitFor(async () => ((await count()) > 0 ? true : undefined), { timeoutMs: 60_000, intervalMs: 20, what: 'the invoice run to begin' });
    await system.process('billing').kill9();
    await system.startBilling();

    await waitFor(
      async () => {
        const { rows } = await system.query<{ n: string }>(`SELECT count(*) AS n FROM billing.invoices WHERE tenant_id = ANY($1::uuid[]) AND status = 'finalised'`, [tenants]);
        return Number(rows[0]?.n) >= tenants.length * 24 ? true : undefined;
      },
      { timeoutMs: 120_000, what: 'every past hour of every tenant finalised' },
    );
    for (const id of tenants) {
      const { rows } = await system.query<{ period_start: Date; n: string }>(
        `SELECT period_start, count(*) AS n FROM billing.invoices WHERE tenant_id = $1 GROUP BY period_start ORDER BY period_start`,
        [id],
      );
      // Every hour since the plan began, none missing (contiguous from the first) and none twice.
      expect(rows.length).toBeGreaterThanOrEqual(25);
      expect(rows.map((r) => r.period_start.getTime())).toEqual(rows.map((_, i) => firstHour + i * HOUR));
      expect(rows.every((r) => r.n === '1')).toBe(true);
    }
    const { rows: totals } = await system.query<{ invoices: string; lines: string }>(
      `SELECT count(DISTINCT i.id) AS invoices, count(l.meter) AS lines FROM billing.invoices i JOIN billing.invoice_lines l ON l.invoice_id = i.id
       WHERE i.tenant_id = ANY($1::uuid[]) AND i.status = 'finalised'`,
      [tenants],
    );
    // Two charges in the plan: two lines per finalised invoice, none lost, none doubled.
    expect(Number(totals[0]?.lines)).toBe(2 * Number(totals[0]?.invoices));
  }, 240_000);
});
