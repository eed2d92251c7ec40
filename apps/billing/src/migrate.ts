import 'reflect-metadata';
import { loadConfig, runMigrationCommand } from '@gureum/runtime';
import { MigrateEnvSchema } from './config';
import { migrateBillingDatabase } from './database/billing-data-source';

/** Applies the billing schema's pending migrations and exits. Environment: GUREUM_DATABASE_URL, GUREUM_LOG_LEVEL. */
runMigrationCommand('billing', () => migrateBillingDatabase(loadConfig(MigrateEnvSchema).GUREUM_DATABASE_URL));
