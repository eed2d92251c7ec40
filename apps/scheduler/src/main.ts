import 'reflect-metadata';
import { ConfigError, createLogger, onShutdown, type Logger } from '@gureum/runtime';
import { loadSchedulerConfig, type SchedulerConfig } from './config';
import { createSchedulerApp } from './scheduler.app';

/**
 * The scheduler service. Environment: GUREUM_DATABASE_URL, GUREUM_NATS_URL, GUREUM_NATS_USER,
 * GUREUM_NATS_PASSWORD, GUREUM_LOG_LEVEL (info), GUREUM_HEARTBEAT_INTERVAL_MS (2000),
 * GUREUM_HOST_LOST_AFTER_MISSED (3), GUREUM_SCHEDULER_DISCONNECT_GRACE_MS (60000). Run migrate.js first.
 */
async function main(): Promise<void> {
  const bootLogger = createLogger('scheduler');
  const config = loadConfigOrExit(bootLogger);
  try {
    const app = await createSchedulerApp(config);
    onShutdown(app.logger, () => app.close());
  } catch (error) {
    bootLogger.fatal({ err: error }, 'scheduler failed to start');
    process.exit(1);
  }
}

function loadConfigOrExit(logger: Logger): SchedulerConfig {
  try {
    return loadSchedulerConfig();
  } catch (error) {
    if (error instanceof ConfigError) logger.fatal({ problems: error.problems }, 'invalid configuration');
    else logger.fatal({ err: error }, 'could not read configuration');
    process.exit(2);
  }
}

void main();
