import 'reflect-metadata';
import { ConfigError, createLogger, onShutdown, type Logger } from '@gureum/runtime';
import { loadRegistryConfig, type RegistryConfig } from './config';
import { createRegistryApp } from './registry.app';

/**
 * The registry service. Environment: GUREUM_DATABASE_URL, GUREUM_NATS_URL, GUREUM_NATS_USER,
 * GUREUM_NATS_PASSWORD, GUREUM_REGISTRY_HOST (127.0.0.1), GUREUM_REGISTRY_PORT (5000),
 * GUREUM_REGISTRY_STORAGE_DIR, GUREUM_REGISTRY_TOKEN_SECRET (≥ 32 chars),
 * GUREUM_REGISTRY_DEFAULT_QUOTA_BYTES (10 GiB), GUREUM_REGISTRY_GC_INTERVAL_SECONDS (3600),
 * GUREUM_REGISTRY_GC_GRACE_SECONDS (3600), GUREUM_REGISTRY_UPLOAD_TTL_SECONDS (86400),
 * GUREUM_REGISTRY_STORAGE_SAMPLE_SECONDS (60),
 * GUREUM_LOG_LEVEL (info). Run migrate.js first.
 */
async function main(): Promise<void> {
  const bootLogger = createLogger('registry');
  const config = loadConfigOrExit(bootLogger);
  try {
    const app = await createRegistryApp(config);
    onShutdown(app.logger, () => app.close());
  } catch (error) {
    bootLogger.fatal({ err: error }, 'registry failed to start');
    process.exit(1);
  }
}

function loadConfigOrExit(logger: Logger): RegistryConfig {
  try {
    return loadRegistryConfig();
  } catch (error) {
    if (error instanceof ConfigError) logger.fatal({ problems: error.problems }, 'invalid configuration');
    else logger.fatal({ err: error }, 'could not read configuration');
    process.exit(2);
  }
}

void main();
