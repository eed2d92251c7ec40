import 'reflect-metadata';
import { ConfigError, createLogger, onShutdown } from '@gureum/runtime';
import { createApiApp } from './app/api-app';
import { apiConfigFromEnv } from './config/api.config';

async function main(): Promise<void> {
  const config = apiConfigFromEnv();
  const logger = createLogger('api', config.logLevel);
  const api = await createApiApp(config, { logger });
  onShutdown(logger, () => api.close());
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  // pino writes stdout synchronously, so the line is out before the exit.
  createLogger('api').fatal({ err: error }, 'api failed to start');
  process.exit(1);
});
