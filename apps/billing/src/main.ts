import 'reflect-metadata';
import { ConfigError, createLogger, onShutdown, type Logger } from '@gureum/runtime';
import { loadBillingConfig, type BillingConfig } from './config';
import { createBillingApp } from './billing.app';

/**
 * The billing service. Environment: GUREUM_DATABASE_URL, GUREUM_NATS_URL, GUREUM_NATS_USER,
 * GUREUM_NATS_PASSWORD, GUREUM_LOG_LEVEL (info), GUREUM_BILLING_PERIOD (P1M),
 * GUREUM_BILLING_GRACE_SECONDS (259200), GUREUM_BILLING_RUN_INTERVAL_MS (60000),
 * GUREUM_BILLING_DEFAULT_CURRENCY (USD). Run migrate.js first.
 */
async function main(): Promise<void> {
  const bootLogger = createLogger('billing');
  const config = loadConfigOrExit(bootLogger);
  try {
    const app = await createBillingApp(config);
    onShutdown(app.logger, () => app.close());
  } catch (error) {
    bootLogger.fatal({ err: error }, 'billing failed to start');
    process.exit(1);
  }
}

function loadConfigOrExit(logger: Logger): BillingConfig {
  try {
    return loadBillingConfig();
  } catch (error) {
    if (error instanceof ConfigError) logger.fatal({ problems: error.problems }, 'invalid configuration');
    else logger.fatal({ err: error }, 'could not read configuration');
    process.exit(2);
  }
}

void main();
