import { Controller, Inject } from '@nestjs/common';
import { Commands, ErrorCode, GureumError, type ReplyOf, type ValidRequestOf } from '@gureum/contracts';
import { CommandPayload, OnCommand } from '@gureum/messaging';
import { DataSource } from 'typeorm';
import { Tenant } from '../tenants/tenant.entity';

const TENANT_NAME = Commands.identityTenantName.subject;

/**
 * The registry keeps repositories per tenant *name* (its namespace) while other services
 * only carry tenant ids; the api, owner of tenants, maps one to the other for them.
 */
@Controller()
export class TenantNameController {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  @OnCommand(TENANT_NAME)
  async tenantName(@CommandPayload(TENANT_NAME) request: ValidRequestOf<typeof TENANT_NAME>): Promise<ReplyOf<typeof TENANT_NAME>> {
    const tenant = await this.dataSource.manager.findOneBy(Tenant, { id: request.tenantId });
    if (!tenant) throw new GureumError(ErrorCode.NotFound, `tenant ${request.tenantId} not found`, { tenantId: request.tenantId });
    return { tenantId: tenant.id, tenantName: tenant.name };
  }
}
