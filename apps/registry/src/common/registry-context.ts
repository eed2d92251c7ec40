import type { OutboxRelay } from '@gureum/messaging';
import type { Logger } from '@gureum/runtime';
import type { DataSource } from 'typeorm';
import type { BlobStore } from '../storage/blob-store';

/** Settings the use cases need, from the service configuration. */
export interface RegistrySettings {
  defaultQuotaBytes: number;
  gcGraceSeconds: number;
  uploadTtlSeconds: number;
}

/** What every use case is built from: passed explicitly, no container needed for the HTTP side. */
export interface RegistryContext {
  dataSource: DataSource;
  store: BlobStore;
  relay: OutboxRelay;
  logger: Logger;
  settings: RegistrySettings;
  /** Told after a commit changed what a namespace stores (push, delete, GC): metering samples it. */
  storageChanged?: (namespace: string) => void;
}
