import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import { ErrorCode, GureumError, type OperatorCaller } from '@gureum/contracts';
import { decodeCursor, encodeCursor } from '@gureum/database';
import { Bus, ContractPipe } from '@gureum/messaging';
import { DataSource } from 'typeorm';
import { Context, OperatorCallerParam } from '../auth/tenant-caller.decorator';
import { OUTBOX_KICK } from '../app/tokens';
import type { RequestContext } from '../http/http-context';
import { CreateUser } from '../users/create-user.usecase';
import { CreateTenant } from './create-tenant.usecase';
import { DeleteTenant } from './delete-tenant.usecase';
import { SuspendTenant } from './suspend-tenant.usecase';
import { Tenant } from './tenant.entity';
import {
  CreateTenantBodySchema,
  PageQuerySchema,
  TenantPathSchema,
  type CreateTenantBody,
  type PageQuery,
  type TenantPath,
  type TenantView,
} from './tenant-http.schemas';
import { toTenantView } from './tenant-view';

/** Operator routes over tenants. */
@Controller('v1/tenants')
export class TenantsController {
  private readonly suspension: SuspendTenant;
  private readonly deletion: DeleteTenant;

  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(Bus) bus: Bus,
    @Inject(OUTBOX_KICK) outboxKick: () => void,
  ) {
    this.suspension = new SuspendTenant(dataSource, bus);
    this.deletion = new DeleteTenant(dataSource, bus, outboxKick);
  }

  @Post()
  @HttpCode(201)
  async create(@Body(new ContractPipe(CreateTenantBodySchema, 'tenant')) body: CreateTenantBody, @Context() context: RequestContext) {
    const created = await new CreateTenant(this.dataSource).executeWith({ name: body.name }, async (manager, tenantId) =>
      body.owner ? new CreateUser().execute(manager, { login: body.owner.login, tenantId, role: 'owner', ...(body.owner.password ? { password: body.owner.password } : {}) }) : null,
    );
    context.auditTarget = `tenant:${created.id}`;
    context.auditTenantId = created.id;
    const tenant = await this.find(created.id);
    return {
      tenant: toTenantView(tenant),
      ownerApiKey: { id: created.owner.keyId, apiKey: created.owner.apiKey },
      ...(created.extra ? { ownerUser: { id: created.extra.id, login: created.extra.login, ...(created.extra.initialPassword ? { initialPassword: created.extra.initialPassword } : {}) } } : {}),
    };
  }

  @Get()
  async list(@Query(new ContractPipe(PageQuerySchema, 'query')) query: PageQuery): Promise<{ items: TenantView[]; nextCursor: string | null }> {
    const after = query.cursor === undefined ? null : decodeCursor(query.cursor);
    if (query.cursor !== undefined && after === null) throw new GureumError(ErrorCode.ValidationFailed, 'cursor is not one this API issued');
    const builder = this.dataSource.getRepository(Tenant).createQueryBuilder('t').orderBy('t.createdAt', 'ASC').addOrderBy('t.id', 'ASC').limit(query.limit + 1);
    if (after) builder.where('(t.createdAt, t.id) > (:createdAt, :id)', { createdAt: after.createdAt, id: after.id });
    const rows = await builder.getMany();
    const page = rows.slice(0, query.limit);
    const last = page[page.length - 1];
    return { items: page.map(toTenantView), nextCursor: rows.length > query.limit && last ? encodeCursor({ createdAt: last.createdAt, id: last.id }) : null };
  }

  @Get(':id')
  async get(@Param(new ContractPipe(TenantPathSchema, 'path parameters')) { id }: TenantPath): Promise<TenantView> {
    return toTenantView(await this.find(id));
  }

  @Post(':id/suspend')
  @HttpCode(200)
  async suspend(@OperatorCallerParam() caller: OperatorCaller, @Param(new ContractPipe(TenantPathSchema, 'path parameters')) { id }: TenantPath, @Context() context: RequestContext) {
    this.auditTenant(context, id);
    const { tenant, workloadsAffected } = await this.suspension.suspend(caller, id);
    return { ...toTenantView(tenant), workloadsAffected };
  }

  @Post(':id/resume')
  @HttpCode(200)
  async resume(@OperatorCallerParam() caller: OperatorCaller, @Param(new ContractPipe(TenantPathSchema, 'path parameters')) { id }: TenantPath, @Context() context: RequestContext) {
    this.auditTenant(context, id);
    const { tenant, workloadsAffected } = await this.suspension.resume(caller, id);
    return { ...toTenantView(tenant), workloadsAffected };
  }

  @Delete(':id')
  @HttpCode(204)
  async delete(@OperatorCallerParam() caller: OperatorCaller, @Param(new ContractPipe(TenantPathSchema, 'path parameters')) { id }: TenantPath, @Context() context: RequestContext): Promise<void> {
    this.auditTenant(context, id);
    await this.deletion.execute(caller, id);
  }

  private auditTenant(context: RequestContext, tenantId: string): void {
    context.auditTarget = `tenant:${tenantId}`;
    context.auditTenantId = tenantId;
  }

  private async find(id: string): Promise<Tenant> {
    const tenant = await this.dataSource.getRepository(Tenant).findOneBy({ id });
    if (!tenant) throw new GureumError(ErrorCode.NotFound, `tenant ${id} does not exist`);
    return tenant;
  }
}
