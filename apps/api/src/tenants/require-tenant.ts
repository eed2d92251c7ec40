import { ErrorCode, GureumError } from '@gureum/contracts';
import type { DataSource } from 'typeorm';
import { Tenant } from './tenant.entity';

/**
 * Operator routes that name a tenant by id (quotas, plan, credits) check it here before
 * forwarding: the services behind them would otherwise store settings for a tenant that does
 * not exist. A deleted tenant's id is unknown too.
 */
export async function requireTenant(dataSource: DataSource, id: string): Promise<Tenant> {
  const tenant = await dataSource.getRepository(Tenant).findOneBy({ id });
  if (!tenant) throw new GureumError(ErrorCode.NotFound, `no tenant has id ${id}`);
  return tenant;
}
