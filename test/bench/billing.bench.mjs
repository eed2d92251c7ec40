#!/usr/bin/env node
// bench:billing — one invoice run for 1,000 tenants (BENCH_TENANTS) that finalises a month of
// hourly rollups each (720 hours × 3 meters, priced with decimal.js), against, in the same run,
// a bare baseline that writes the same invoices and lines with plain SQL, one transaction per
// tenant. Not a test: it prints the time, the target (≤ 30 s) and the ratio. Needs `npm run
// build` and a PostgreSQL admin URL (GUREUM_BENCH_PG_URL, else GUREUM_TEST_PG_URL); it creates
// and drops a database of its own. Metering is replaced by an in-memory usage source, so the
// number is billing's own cost (plans, pricing, transactions), not NATS round trips.
import { randomBytes, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Client } = require('pg');
const pino = require('pino');
const { createBillingDataSource, migrateBillingDatabase } = require('../../apps/billing/dist/database/billing-data-source.js');
const { CreatePlanUseCase } = require('../../apps/billing/dist/plans/plan-usecases.js');
const { InvoiceWriter } = require('../../apps/billing/dist/invoices/invoice-writer.js');
const { RunInvoicesUseCase } = require('../../apps/billing/dist/invoices/run-invoices.usecase.js');

const TENANTS = Number(process.env.BENCH_TENANTS ?? 1000);
const ADMIN_URL = process.env.GUREUM_BENCH_PG_URL ?? process.env.GUREUM_TEST_PG_URL;
if (!ADMIN_URL) {
  console.error('set GUREUM_BENCH_PG_URL (or GUREUM_TEST_PG_URL) to a PostgreSQL admin URL');
  process.exit(2);
}
const HOUR = 3_600_000;
const MONTH_START = Date.UTC(2026, 0, 1);
const MONTH_END = Date.UTC(2026, 1, 1);
const NOW = new Date(MONTH_END + 60_000); // a minute into February: January is due (grace 0)
const METERS = { vcpu_seconds: '1800.000125', memory_gib_hours: '0.0625', network_bytes: '1234567' };

/** What metering would answer: every hour of the window, three meters. */
const usage = {
  async hourlyUsage(tenantId, from, to) {
    const rows = [];
    for (let t = from.getTime(); t < to.getTime(); t += HOUR) {
      for (const [meter, quantity] of Object.entries(METERS)) rows.push({ periodStart: new Date(t).toISOString(), tenantId, meter, unit: 'u', workloadId: null, quantity });
    }
    return rows;
  },
};

const dbName = `bench_billing_${randomBytes(4).toString('hex')}`;
const admin = new Client({ connectionString: ADMIN_URL });
await admin.connect();
await admin.query(`CREATE DATABASE ${dbName}`);
const url = new URL(ADMIN_URL);
url.pathname = `/${dbName}`;
const dataSource = createBillingDataSource(url.toString(), 10);
try {
  await migrateBillingDatabase(url.toString());
  await dataSource.initialize();
  const plan = await new CreatePlanUseCase(dataSource).execute({
    name: 'bench',
    currency: 'USD',
    charges: [
      { meter: 'vcpu_seconds', freeAllowance: '3600', pricing: { model: 'graduated', tiers: [{ upTo: '100000', unitPrice: '0.00001' }, { upTo: null, unitPrice: '0.000008' }] } },
      { meter: 'memory_gib_hours', pricing: { model: 'per_unit', unitPrice: '0.004' } },
      { meter: 'network_bytes', pricing: { model: 'package', packageSize: '1000000000', packagePrice: '0.09' } },
    ],
  });
  const tenants = Array.from({ length: TENANTS }, () => randomUUID());
  await dataSource.query(`INSERT INTO billing.tenant_plans (tenant_id, effective_from, plan_id) SELECT unnest($1::uuid[]), $2, $3`, [tenants, new Date(MONTH_START), plan.id]);

  // The invoice run: January finalised from 720 hourly rollups per meter, February's draft started.
  const logger = pino({ level: 'silent' });
  const run = new RunInvoicesUseCase(dataSource, new InvoiceWriter(dataSource, usage), { kind: 'month', months: 1 }, 0, logger);
  const started = performance.now();
  const report = await run.execute(NOW);
  const runSeconds = (performance.now() - started) / 1000;
  const [{ finalised }] = await dataSource.query(`SELECT count(*)::int AS finalised FROM billing.invoices WHERE status = 'finalised'`);
  if (report.failedTenants.length > 0 || finalised !== TENANTS) throw new Error(`run incomplete: ${JSON.stringify(report)}, ${finalised} finalised`);

  // Baseline: the same rows (an invoice and three lines per tenant and period) written with bare SQL, a transaction per tenant.
  await dataSource.query(`CREATE TABLE billing.bench_invoices (LIKE billing.invoices INCLUDING DEFAULTS)`);
  await dataSource.query(`CREATE TABLE billing.bench_lines (LIKE billing.invoice_lines INCLUDING DEFAULTS)`);
  const baseStarted = performance.now();
  for (const tenantId of tenants) {
    for (const [start, end] of [[MONTH_START, MONTH_END], [MONTH_END, Date.UTC(2026, 2, 1)]]) {
      await dataSource.transaction(async (manager) => {
        const id = randomUUID();
        await manager.query(
          `INSERT INTO billing.bench_invoices (id, tenant_id, plan_id, currency, period_start, period_end, usage_from, status, total, amount_due) VALUES ($1, $2, $3, 'USD', $4, $5, $4, 'draft', 1, 1)`,
          [id, tenantId, plan.id, new Date(start), new Date(end)],
        );
        await manager.query(
          `INSERT INTO billing.bench_lines (invoice_id, meter, position, unit, aggregate, quantity, free_quantity, billable_quantity, pricing, amount, usage_from, usage_to, rollup_hours, rollups)
           SELECT $1, m, p, 'u', 'sum', 1, 0, 1, '{}'::jsonb, 1, $2, $3, 720, '[]'::jsonb FROM unnest($4::text[]) WITH ORDINALITY AS t(m, p)`,
          [id, new Date(start), new Date(end), Object.keys(METERS)],
        );
      });
    }
  }
  const baseSeconds = (performance.now() - baseStarted) / 1000;

  console.log(`invoice run: ${TENANTS} tenants, ${finalised} invoices finalised from 720 hourly rollups × 3 meters each (+ ${report.drafts} drafts)`);
  console.log(`  billing run     ${runSeconds.toFixed(2)} s   (target ≤ 30 s: ${runSeconds <= 30 ? 'met' : 'NOT met'})`);
  console.log(`  bare SQL writes ${baseSeconds.toFixed(2)} s   (same invoices and lines, a transaction per tenant and period)`);
  console.log(`  ratio           ${(runSeconds / baseSeconds).toFixed(2)} × the bare writes`);
} finally {
  await dataSource.destroy().catch(() => undefined);
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined);
  await admin.end();
}
