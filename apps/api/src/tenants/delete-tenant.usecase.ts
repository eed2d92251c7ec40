import { Commands, ErrorCode, GureumError, type OperatorCaller } from '@gureum/contracts';
import type { Bus } from '@gureum/messaging';
import type { DataSource } from 'typeorm';
import { Tenant } from './tenant.entity';

/**
 * Deletes a tenant only when it is empty: no workload left at the scheduler (deleted ones do
 * not count). Its users, API keys and sessions go with it (ON DELETE CASCADE); its audit
 * entries stay. Workloads are never cascaded: an operator deletes or lets the tenant delete
 * them first, so nothing running is lost by accident.
 */
export class DeleteTenant {
  constructor(
    private readonly dataSource: DataSource,
    private readonly bus: Bus,
  ) {}

  async execute(caller: OperatorCaller, tenantId: string): Promise<void> {
    const tenant = await this.dataSource.getRepository(Tenant).findOneBy({ id: tenantId });
    if (!tenant) throw new GureumError(ErrorCode.NotFound, `tenant ${tenantId} does not exist`);
    // The scheduler owns workloads; it is asked on the tenant's behalf, read-only.
    const page = await this.bus.request(Commands.workloadList.subject, {
      caller: { principalId: caller.principalId, tenantId, role: 'viewer', requestId: caller.requestId },
      limit: 1,
    });
    if (page.items.length > 0) {
      throw new GureumError(ErrorCode.Conflict, `tenant ${tenant.name} still has workloads; delete them first`, { tenantId });
    }
    await this.dataSource.getRepository(Tenant).delete({ id: tenantId });
  }
}
