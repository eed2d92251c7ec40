import 'reflect-metadata';
import { ConfigError, createLogger, onShutdown, type Logger } from '@gureum/runtime';
import { loadMeteringConfig, type MeteringConfig } from './config';
import { createMeteringApp } from './metering.app';

/**
 * The metering service. Environment: GUREUM_DATABASE_URL, GUREUM_NATS_URL, GUREUM_NATS_USER,
 * GUREUM_NATS_PASSWORD, GUREUM_LOG_LEVEL (info), GUREUM_METERING_RETENTION_DAYS (35),
 * GUREUM_METERING_BATCH_SIZE (10000), GUREUM_METERING_BATCH_MS (200), GUREUM_METERING_ACK_WAIT_MS (30000),
 * GUREUM_METERING_PLACEMENT_SLACK_MS (30000), GUREUM_METERING_PLACEMENT_HOLD_MS (5000),
 * GUREUM_METERING_PLACEMENT_MAX_DELIVERIES (24).
 * Run migrate.js first.
 */
async function main(): Promise<void> {
  const bootLogger = createLogger('metering');
  const config = loadConfigOrExit(bootLogger);
  try {
    const app = await createMeteringApp(config);
    onShutdown(app.logger, () => app.close());
  } catch (error) {
    bootLogger.fatal({ err: error }, 'metering failed to start');
    process.exit(1);
  }
}

function loadConfigOrExit(logger: Logger): MeteringConfig {
  try {
    return loadMeteringConfig();
  } catch (error) {
    if (error instanceof ConfigError) logger.fatal({ problems: error.problems }, 'invalid configuration');
    else logger.fatal({ err: error }, 'could not read configuration');
    process.exit(2);
  }
}

void main();
