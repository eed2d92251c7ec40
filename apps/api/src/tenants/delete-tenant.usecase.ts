import { Commands, ErrorCode, GureumError, type OperatorCaller } from '@gureum/contracts';
import { enqueueEvent, type Bus } from '@gureum/messaging';
import type { DataSource } from 'typeorm';
import { Tenant } from './tenant.entity';

/**
 * Deletes a tenant only when it is empty: no workload left at the scheduler (deleted ones do
 * not count). Its users, API keys and sessions go with it (ON DELETE CASCADE); its audit
 * entries stay. Workloads are never cascaded: an operator deletes or lets the tenant delete
 * them first, so nothing running is lost by accident.
 *
 * The deletion and its fact `evt.tenant.deleted.v1` commit together (the api's outbox), and
 * the fact leaves for JetStream only after the commit: the registry empties the tenant's
 * namespace on it, so its images stop being pullable and counted at once (issue 20, hole 5).
 */
export class DeleteTenant {
  constructor(
    private readonly dataSource: DataSource,
    private readonly bus: Bus,
    /** Called after the commit, so the outbox relay sends the event now rather than on its poll. */
    private readonly outboxKick: () => void = () => undefined,
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
    const deleted = await this.dataSource.transaction(async (manager) => {
      const result = await manager.delete(Tenant, { id: tenantId });
      // Deleted concurrently by another request: that one sent the event.
      if (!result.affected) return false;
      await enqueueEvent(manager, 'evt.tenant.deleted.v1', { tenantId, name: tenant.name, deletedAt: new Date().toISOString() }, tenantId);
      return true;
    });
    if (deleted) this.outboxKick();
  }
}
