import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Patch, Post } from '@nestjs/common';
import { ErrorCode, GureumError, type Caller } from '@gureum/contracts';
import { ContractPipe } from '@gureum/messaging';
import { DataSource, type EntityManager } from 'typeorm';
import { Context, TenantCaller } from '../auth/tenant-caller.decorator';
import type { RequestContext } from '../http/http-context';
import { CreateUser } from './create-user.usecase';
import { Tenant } from '../tenants/tenant.entity';
import { User } from './user.entity';
import {
  ChangeRoleBodySchema,
  InviteUserBodySchema,
  UserPathSchema,
  type ChangeRoleBody,
  type InviteUserBody,
  type UserPath,
  type UserView,
} from './user-http.schemas';

function toUserView(user: User, tenantId: string, tenantName: string): UserView {
  return {
    id: user.id,
    login: user.login,
    signInAs: user.loginScope === 'tenant' ? `${tenantName}/${user.login}` : user.login,
    role: user.role as UserView['role'],
    tenantId,
    createdAt: user.createdAt.toISOString(),
  };
}

/** Owners manage the people of their tenant. Another tenant's user is a 404, never a 403. */
@Controller('v1/users')
export class UsersController {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  @Get()
  async list(@TenantCaller() caller: Caller): Promise<{ items: UserView[] }> {
    const tenantName = await this.tenantName(caller.tenantId);
    const users = await this.dataSource.getRepository(User).find({ where: { tenantId: caller.tenantId }, order: { createdAt: 'ASC', id: 'ASC' } });
    return { items: users.map((user) => toUserView(user, caller.tenantId, tenantName)) };
  }

  @Post()
  @HttpCode(201)
  async invite(@TenantCaller() caller: Caller, @Body(new ContractPipe(InviteUserBodySchema, 'user')) body: InviteUserBody, @Context() context: RequestContext) {
    const created = await this.dataSource.transaction((manager) =>
      new CreateUser().execute(manager, { login: body.login, tenantId: caller.tenantId, role: body.role, loginScope: 'tenant', ...(body.password ? { password: body.password } : {}) }),
    );
    context.auditTarget = `user:${created.id}`;
    const user = await this.dataSource.getRepository(User).findOneByOrFail({ id: created.id });
    return { ...toUserView(user, caller.tenantId, await this.tenantName(caller.tenantId)), ...(created.initialPassword ? { initialPassword: created.initialPassword } : {}) };
  }

  @Patch(':id')
  async changeRole(
    @TenantCaller() caller: Caller,
    @Param(new ContractPipe(UserPathSchema, 'path parameters')) { id }: UserPath,
    @Body(new ContractPipe(ChangeRoleBodySchema, 'role change')) body: ChangeRoleBody,
    @Context() context: RequestContext,
  ): Promise<UserView> {
    context.auditTarget = `user:${id}`;
    return this.dataSource.transaction(async (manager) => {
      const user = await lockTenantUser(manager, caller.tenantId, id);
      if (user.role === 'owner' && body.role !== 'owner') await assertNotLastOwner(manager, caller.tenantId);
      user.role = body.role;
      await manager.update(User, { id }, { role: body.role });
      return toUserView(user, caller.tenantId, await this.tenantName(caller.tenantId));
    });
  }

  @Delete(':id')
  @HttpCode(204)
  async remove(@TenantCaller() caller: Caller, @Param(new ContractPipe(UserPathSchema, 'path parameters')) { id }: UserPath, @Context() context: RequestContext): Promise<void> {
    context.auditTarget = `user:${id}`;
    await this.dataSource.transaction(async (manager) => {
      const user = await lockTenantUser(manager, caller.tenantId, id);
      if (user.role === 'owner') await assertNotLastOwner(manager, caller.tenantId);
      // Sessions go with the row (ON DELETE CASCADE), so the user is logged out at once.
      await manager.delete(User, { id });
    });
  }

  private async tenantName(tenantId: string): Promise<string> {
    return (await this.dataSource.getRepository(Tenant).findOneByOrFail({ id: tenantId })).name;
  }
}

async function lockTenantUser(manager: EntityManager, tenantId: string, id: string): Promise<User> {
  // Owners of a tenant are locked together so two concurrent demotions cannot both pass the last-owner check.
  await manager.query(`SELECT id FROM "api"."tenants" WHERE id = $1 FOR UPDATE`, [tenantId]);
  const user = await manager.getRepository(User).findOneBy({ id, tenantId });
  if (!user) throw new GureumError(ErrorCode.NotFound, `user ${id} does not exist`);
  return user;
}

async function assertNotLastOwner(manager: EntityManager, tenantId: string): Promise<void> {
  const owners = await manager.getRepository(User).countBy({ tenantId, role: 'owner' });
  if (owners <= 1) throw new GureumError(ErrorCode.Conflict, 'the last owner of a tenant cannot be demoted or removed');
}
