import 'reflect-metadata';
import { ConfigError, createLogger, loadConfig } from '@gureum/runtime';
import { MigrateEnvSchema } from './config';
import { migrateBillingDatabase } from './database/billing-data-source';

/** Applies the billing schema's pending migrations and exits. Environment: GUREUM_DATABASE_URL, GUREUM_LOG_LEVEL. */
async function main(): Promise<void> {
  const logger = createLogger('billing-migrate');
  try {
    const config = loadConfig(MigrateEnvSchema);
    const applied = await migrateBillingDatabase(config.GUREUM_DATABASE_URL);
    for (const name of applied) logger.info({ migration: name }, 'migration applied');
    logger.info({ applied }, applied.length === 0 ? 'schema billing is up to date' : `applied ${applied.length} migration(s)`);
    process.exit(0);
  } catch (error) {
    if (error instanceof ConfigError) logger.fatal({ problems: error.problems }, 'invalid configuration');
    else logger.fatal({ err: error }, 'migration failed');
    process.exit(1);
  }
}

void main();
