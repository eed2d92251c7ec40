import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { ErrorCode, GureumError, type Caller } from '@gureum/contracts';
import { ContractPipe } from '@gureum/messaging';
import { DataSource, IsNull } from 'typeorm';
import { ApiKey } from '../auth/api-key.entity';
import { IssueApiKey } from '../auth/issue-api-key.usecase';
import { Context, TenantCaller } from '../auth/tenant-caller.decorator';
import type { RequestContext } from '../http/http-context';
import { ApiKeyPathSchema, CreateApiKeyBodySchema, type ApiKeyPath, type ApiKeyView, type CreateApiKeyBody } from './api-key-http.schemas';

function toApiKeyView(key: ApiKey, tenantId: string): ApiKeyView {
  return {
    id: key.id,
    name: key.name,
    role: key.role as ApiKeyView['role'],
    prefix: key.prefix,
    tenantId,
    createdAt: key.createdAt.toISOString(),
    lastUsedAt: key.lastUsedAt?.toISOString() ?? null,
    expiresAt: key.expiresAt?.toISOString() ?? null,
    revokedAt: key.revokedAt?.toISOString() ?? null,
  };
}

/** Owners manage their tenant's API keys. The secret is returned once, by create; never by list. */
@Controller('v1/api-keys')
export class ApiKeysController {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  @Get()
  async list(@TenantCaller() caller: Caller): Promise<{ items: ApiKeyView[] }> {
    const keys = await this.dataSource.getRepository(ApiKey).find({ where: { tenantId: caller.tenantId }, order: { createdAt: 'ASC', id: 'ASC' } });
    return { items: keys.map((key) => toApiKeyView(key, caller.tenantId)) };
  }

  @Post()
  @HttpCode(201)
  async create(@TenantCaller() caller: Caller, @Body(new ContractPipe(CreateApiKeyBodySchema, 'API key')) body: CreateApiKeyBody, @Context() context: RequestContext) {
    const expiresAt = body.expiresAt ? new Date(body.expiresAt) : null;
    if (expiresAt && expiresAt.getTime() <= Date.now()) throw new GureumError(ErrorCode.ValidationFailed, 'expiresAt must be in the future');
    const issued = await this.dataSource.transaction((manager) => new IssueApiKey().execute(manager, { tenantId: caller.tenantId, role: body.role, name: body.name, expiresAt }));
    context.auditTarget = `api_key:${issued.id}`;
    const key = await this.dataSource.getRepository(ApiKey).findOneByOrFail({ id: issued.id });
    return { ...toApiKeyView(key, caller.tenantId), apiKey: issued.plaintext };
  }

  @Delete(':id')
  @HttpCode(204)
  async revoke(@TenantCaller() caller: Caller, @Param(new ContractPipe(ApiKeyPathSchema, 'path parameters')) { id }: ApiKeyPath, @Context() context: RequestContext): Promise<void> {
    context.auditTarget = `api_key:${id}`;
    const key = await this.dataSource.getRepository(ApiKey).findOneBy({ id, tenantId: caller.tenantId });
    if (!key) throw new GureumError(ErrorCode.NotFound, `API key ${id} does not exist`);
    // Every request reads revoked_at, so the key stops working with the next request.
    await this.dataSource.getRepository(ApiKey).update({ id, revokedAt: IsNull() }, { revokedAt: new Date() });
  }
}
