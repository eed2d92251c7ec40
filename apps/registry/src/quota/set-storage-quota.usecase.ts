import type { StorageUsage, ValidRequestOf } from '@gureum/contracts';
import { inTransaction, queryRows, SCHEMA } from '../database/sql';
import type { RegistryContext } from '../common/registry-context';
import { readUsage } from './storage-accounting';

/** Operator override of a tenant's storage quota; null returns it to the configured default. */
export class SetStorageQuota {
  constructor(private readonly context: RegistryContext) {}

  async execute(command: ValidRequestOf<'registry.cmd.quota.set.v1'>): Promise<StorageUsage> {
    const usage = await inTransaction(this.context.dataSource, async (manager) => {
      await queryRows(
        manager,
        `INSERT INTO "${SCHEMA}"."tenant_storage" (namespace, quota_bytes) VALUES ($1, $2)
         ON CONFLICT (namespace) DO UPDATE SET quota_bytes = EXCLUDED.quota_bytes`,
        [command.tenantName, command.quotaBytes],
      );
      return readUsage(manager, command.tenantName, this.context.settings.defaultQuotaBytes);
    });
    this.context.logger.info({ tenant: command.tenantName, quotaBytes: usage.quotaBytes }, 'storage quota set');
    return { tenantName: command.tenantName, ...usage };
  }
}
