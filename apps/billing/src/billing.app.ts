import { NestFactory } from '@nestjs/core';
import { Transport, type NatsOptions } from '@nestjs/microservices';
import { Bus, connectNats, ensureEventsStream, nestNatsOptions, OutboxRelay, RpcErrorFilter, type NatsConnection } from '@gureum/messaging';
import { createLogger, PinoNestLogger, type Logger } from '@gureum/runtime';
import { BillingModule } from './billing.module';
import { BudgetUseCases } from './budgets/budget.usecases';
import type { BillingConfig } from './config';
import { BillingSummaryUseCase, GetCostUseCase } from './cost/cost.usecases';
import { GetCreditsUseCase, GrantCreditsUseCase } from './credits/credits.usecases';
import { assertSchemaUpToDate, createBillingDataSource } from './database/billing-data-source';
import { CreateCreditNoteUseCase } from './invoices/create-credit-note.usecase';
import { FinalizeInvoiceUseCase } from './invoices/finalize-invoice.usecase';
import { InvoiceWriter, type BeforeCommitHook } from './invoices/invoice-writer';
import { RunInvoicesUseCase, type AfterTenantHook, type InvoiceRunReport } from './invoices/run-invoices.usecase';
import { AssignPlanUseCase, CreatePlanUseCase, ListPlansUseCase } from './plans/plan-usecases';
import { MeteringUsageSource, type UsageSource } from './usage/usage-source';

export interface BillingApp {
  readonly logger: Logger;
  /** One invoice run now (the timer runs them too); runs never overlap. */
  runInvoices(): Promise<InvoiceRunReport>;
  close(): Promise<void>;
  /** Drops every connection at once: what a crash looks like from outside. For tests. */
  kill(): Promise<void>;
}

export interface BillingAppOptions {
  logger?: Logger;
  clock?: () => Date;
  /** Defaults to metering over NATS. */
  usage?: UsageSource;
  /** Set false to run invoice runs only through `runInvoices()` (tests). */
  runOnTimer?: boolean;
  hooks?: { beforeCommit?: BeforeCommitHook; afterTenant?: AfterTenantHook };
}

/** Boots billing: database, NATS, the command handlers, the outbox relay and the invoice-run timer. */
export async function createBillingApp(config: BillingConfig, options: BillingAppOptions = {}): Promise<BillingApp> {
  const logger = options.logger ?? createLogger('billing', config.logLevel);
  const clock = options.clock ?? (() => new Date());
  const natsSettings = { url: config.nats.url, user: config.nats.user, password: config.nats.password, name: 'billing' };
  const cleanup: Array<() => Promise<void>> = [];
  const hardStops: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    for (const step of cleanup.splice(0).reverse()) {
      await step().catch((error: unknown) => logger.error({ err: error }, 'error while shutting down'));
    }
  };

  let run: RunInvoicesUseCase;
  let running: Promise<InvoiceRunReport> | null = null;
  let relay: OutboxRelay;
  const runInvoices = (): Promise<InvoiceRunReport> => {
    const previous = running ?? Promise.resolve(null);
    const next = previous
      .catch(() => null)
      .then(() => run.execute(clock()))
      .finally(() => relay.kick());
    running = next.catch(() => ({ tenants: 0, drafts: 0, finalised: 0, failedTenants: [] }));
    return next;
  };

  try {
    const dataSource = createBillingDataSource(config.databaseUrl);
    await dataSource.initialize();
    cleanup.push(() => dataSource.destroy());
    hardStops.push(() => dataSource.destroy());
    await assertSchemaUpToDate(dataSource);

    const nc: NatsConnection = await connectNats(natsSettings);
    cleanup.push(() => nc.drain());
    hardStops.push(() => nc.close());
    await ensureEventsStream(nc);
    relay = new OutboxRelay(dataSource, nc, logger);
    relay.start();
    cleanup.push(() => relay.stop());
    hardStops.unshift(() => relay.stop());

    const usage = options.usage ?? new MeteringUsageSource(new Bus(nc, 30_000));
    const writer = new InvoiceWriter(dataSource, usage, options.hooks?.beforeCommit);
    run = new RunInvoicesUseCase(dataSource, writer, config.period, config.graceMs, logger, options.hooks?.afterTenant);

    const app = await NestFactory.createMicroservice<NatsOptions>(
      BillingModule.register({
        dataSource,
        createPlan: new CreatePlanUseCase(dataSource),
        listPlans: new ListPlansUseCase(dataSource),
        assignPlan: new AssignPlanUseCase(dataSource, clock),
        finalizeInvoice: new FinalizeInvoiceUseCase(dataSource, writer, clock),
        createCreditNote: new CreateCreditNoteUseCase(dataSource),
        cost: new GetCostUseCase(dataSource, usage, config.period, clock),
        summary: new BillingSummaryUseCase(dataSource, config.period, config.defaultCurrency, clock),
        grantCredits: new GrantCreditsUseCase(dataSource, clock),
        getCredits: new GetCreditsUseCase(dataSource, clock),
        budgets: new BudgetUseCases(dataSource, config.period, clock),
      }),
      { transport: Transport.NATS, options: nestNatsOptions(natsSettings, 'billing'), logger: new PinoNestLogger(logger) },
    );
    app.useGlobalFilters(new RpcErrorFilter(logger));
    cleanup.push(() => app.close());
    await app.listen();
    await app.unwrap<NatsConnection>().flush();
    hardStops.push(() => app.unwrap<NatsConnection>().close());

    if (options.runOnTimer !== false) {
      const timer = setInterval(() => {
        runInvoices().catch((error: unknown) => logger.warn({ err: error }, 'invoice run failed; retrying at the next interval'));
      }, config.runIntervalMs);
      cleanup.push(async () => {
        clearInterval(timer);
        await running;
      });
      hardStops.unshift(async () => clearInterval(timer));
    }
    logger.info({ period: config.period, graceMs: config.graceMs, runIntervalMs: config.runIntervalMs }, 'billing started');
  } catch (error) {
    await closeAll();
    throw error;
  }

  let closing: Promise<void> | null = null;
  return {
    logger,
    runInvoices,
    close() {
      closing ??= closeAll().then(() => logger.info('billing stopped'));
      return closing;
    },
    kill() {
      cleanup.splice(0);
      closing ??= Promise.all(hardStops.map((stop) => stop().catch(() => undefined))).then(() => undefined);
      return closing;
    },
  };
}
