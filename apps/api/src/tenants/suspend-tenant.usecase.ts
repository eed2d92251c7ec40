import { Commands, ErrorCode, GureumError, type OperatorCaller } from '@gureum/contracts';
import type { Bus } from '@gureum/messaging';
import type { DataSource } from 'typeorm';
import { Tenant, type TenantStatus } from './tenant.entity';

export interface TenantSuspensionResult {
  tenant: Tenant;
  workloadsAffected: number;
}

/**
 * Suspend: the status flips first, so the tenant's writes are refused from the next request
 * on, then the scheduler stops its running workloads. Resume: the scheduler restarts what the
 * suspension stopped, then the status flips back. Both are idempotent, so a retry after a
 * scheduler timeout completes the job.
 */
export class SuspendTenant {
  constructor(
    private readonly dataSource: DataSource,
    private readonly bus: Bus,
  ) {}

  async suspend(caller: OperatorCaller, tenantId: string): Promise<TenantSuspensionResult> {
    const tenant = await this.setStatus(tenantId, 'suspended');
    const reply = await this.bus.request(Commands.tenantSuspend.subject, { caller, tenantId });
    return { tenant, workloadsAffected: reply.workloadsAffected };
  }

  async resume(caller: OperatorCaller, tenantId: string): Promise<TenantSuspensionResult> {
    await this.find(tenantId);
    const reply = await this.bus.request(Commands.tenantResume.subject, { caller, tenantId });
    const tenant = await this.setStatus(tenantId, 'active');
    return { tenant, workloadsAffected: reply.workloadsAffected };
  }

  private async setStatus(tenantId: string, status: TenantStatus): Promise<Tenant> {
    const tenant = await this.find(tenantId);
    if (tenant.status !== status) {
      await this.dataSource.getRepository(Tenant).update({ id: tenantId }, { status });
      tenant.status = status;
    }
    return tenant;
  }

  private async find(tenantId: string): Promise<Tenant> {
    const tenant = await this.dataSource.getRepository(Tenant).findOneBy({ id: tenantId });
    if (!tenant) throw new GureumError(ErrorCode.NotFound, `tenant ${tenantId} does not exist`);
    return tenant;
  }
}
