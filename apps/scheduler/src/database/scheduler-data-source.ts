import { assertMigrationsApplied, createServiceDataSource, migrateServiceDatabase } from '@gureum/database';
import { OutboxMessage } from '@gureum/messaging';
import type { DataSource } from 'typeorm';
import { HostEntity } from '../hosts/host.entity';
import { InitialSchema1764230400000 } from '../migrations/1764230400000-initial-schema';
import { TenantSuspension1764720000000 } from '../migrations/1764720000000-tenant-suspension';
import { WorkloadEventHost1767312458120 } from '../migrations/1767312458120-workload-event-host';
import { HostLifecycle1767318240517 } from '../migrations/1767318240517-host-lifecycle';
import { PlacementAndQuotas1767349215830 } from '../migrations/1767349215830-placement-and-quotas';
import { VmWorkloads1767431234567 } from '../migrations/1767431234567-vm-workloads';
import { MaintenanceSilence1767600000000 } from '../migrations/1767600000000-maintenance-silence';
import { DedicatedHostsIndex1767700000000 } from '../migrations/1767700000000-dedicated-hosts-index';
import { HeartbeatsHot1767800000000 } from '../migrations/1767800000000-heartbeats-hot';
import { DisconnectGrace1767900000000 } from '../migrations/1767900000000-disconnect-grace';
import { ReadOnlyRootFilesystem1767912345678 } from '../migrations/1767912345678-read-only-root-filesystem';
import { ClaimEntity } from '../placement/claim.entity';
import { WorkloadEventEntity } from '../workloads/workload-event.entity';
import { WorkloadEntity } from '../workloads/workload.entity';
import { QuotaPids1767910000000 } from '../migrations/1767910000000-quota-pids';
import { SCHEMA } from './sql';

/** In order; a new migration is appended here and nowhere else. */
export const SCHEDULER_MIGRATIONS = [
  InitialSchema1764230400000,
  TenantSuspension1764720000000,
  WorkloadEventHost1767312458120,
  HostLifecycle1767318240517,
  PlacementAndQuotas1767349215830,
  VmWorkloads1767431234567,
  MaintenanceSilence1767600000000,
  DedicatedHostsIndex1767700000000,
  HeartbeatsHot1767800000000,
  DisconnectGrace1767900000000,
  QuotaPids1767910000000,
  ReadOnlyRootFilesystem1767912345678,
];

export function createSchedulerDataSource(url: string, poolSize = 10): DataSource {
  return createServiceDataSource({
    url,
    schema: SCHEMA,
    entities: [HostEntity, WorkloadEntity, WorkloadEventEntity, ClaimEntity, OutboxMessage],
    migrations: SCHEDULER_MIGRATIONS,
    poolSize,
    applicationName: 'gureum-scheduler',
  });
}

/** Applies pending migrations; returns the names applied (empty when up to date). */
export function migrateSchedulerDatabase(url: string): Promise<string[]> {
  return migrateServiceDatabase((poolSize) => createSchedulerDataSource(url, poolSize), SCHEMA);
}

/** The service never migrates at boot; it refuses to serve an out-of-date schema. */
export function assertSchemaUpToDate(dataSource: DataSource): Promise<void> {
  return assertMigrationsApplied(dataSource, SCHEMA, 'scheduler');
}
