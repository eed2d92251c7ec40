import { createServiceDataSource, pendingMigrations } from '@gureum/database';
import { OutboxMessage } from '@gureum/messaging';
import type { DataSource } from 'typeorm';
import { ApiKey } from '../auth/api-key.entity';
import { AuditEntry } from '../audit/audit-entry.entity';
import { CreateIdentity1764201600000 } from '../migrations/1764201600000-create-identity';
import { TenancyAccess1764720000000 } from '../migrations/1764720000000-tenancy-access';
import { Builds1767341852117 } from '../migrations/1767341852117-builds';
import { RefreshTokenReuse1767600000001 } from '../migrations/1767600000001-refresh-token-reuse';
import { TenantScopedLogins1767600000002 } from '../migrations/1767600000002-tenant-scoped-logins';
import { Outbox1767900000000 } from '../migrations/1767900000000-outbox';
import { Session } from '../sessions/session.entity';
import { User } from '../users/user.entity';
import { Tenant } from '../tenants/tenant.entity';

/** The PostgreSQL schema the api owns; no other service reads it. */
export const API_SCHEMA = 'api';

/** In order of application; a new migration is appended, never inserted. */
export const API_MIGRATIONS = [CreateIdentity1764201600000, TenancyAccess1764720000000, Builds1767341852117, RefreshTokenReuse1767600000001, TenantScopedLogins1767600000002, Outbox1767900000000];

export function createApiDataSource(databaseUrl: string, applicationName = 'gureum-api'): DataSource {
  return createServiceDataSource({
    url: databaseUrl,
    schema: API_SCHEMA,
    entities: [Tenant, ApiKey, User, Session, AuditEntry, OutboxMessage],
    migrations: API_MIGRATIONS,
    applicationName,
  });
}

/** Read-only, so serving never changes the schema. */
export function pendingApiMigrations(dataSource: DataSource): Promise<string[]> {
  return pendingMigrations(dataSource, API_SCHEMA);
}
