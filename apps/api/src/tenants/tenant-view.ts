import type { Tenant } from './tenant.entity';
import type { TenantView } from './tenant-http.schemas';

export function toTenantView(tenant: Tenant): TenantView {
  return { id: tenant.id, name: tenant.name, status: tenant.status, createdAt: tenant.createdAt.toISOString() };
}
