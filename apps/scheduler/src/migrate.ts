import 'reflect-metadata';
import { loadConfig, runMigrationCommand } from '@gureum/runtime';
import { MigrateEnvSchema } from './config';
import { migrateSchedulerDatabase } from './database/scheduler-data-source';

/** Applies the scheduler schema's pending migrations and exits. Environment: GUREUM_DATABASE_URL, GUREUM_LOG_LEVEL. */
runMigrationCommand('scheduler', () => migrateSchedulerDatabase(loadConfig(MigrateEnvSchema).GUREUM_DATABASE_URL));
