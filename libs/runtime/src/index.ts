export * from './config';
export * from './logger';
export * from './shutdown';
export { runMigrationCommand } from './migration-command';
