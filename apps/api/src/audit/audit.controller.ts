import { Controller, Get, Inject, Query } from '@nestjs/common';
import type { Caller } from '@gureum/contracts';
import { ContractPipe } from '@gureum/messaging';
import { DataSource } from 'typeorm';
import { TenantCaller } from '../auth/tenant-caller.decorator';
import { AuditEntry } from './audit-entry.entity';
import { AdminAuditQuerySchema, TenantAuditQuerySchema, type AuditQuery } from './audit-http.schemas';

/** Newest first, paged on the entry id (a bigserial, so stable while entries are added). */
@Controller('v1')
export class AuditController {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  @Get('admin/audit')
  listAll(@Query(new ContractPipe(AdminAuditQuerySchema, 'query')) query: AuditQuery) {
    return this.page(query);
  }

  @Get('audit')
  listOwn(@TenantCaller() caller: Caller, @Query(new ContractPipe(TenantAuditQuerySchema, 'query')) query: Omit<AuditQuery, 'tenantId'>) {
    return this.page({ ...query, tenantId: caller.tenantId });
  }

  private async page(query: AuditQuery) {
    const builder = this.dataSource.getRepository(AuditEntry).createQueryBuilder('a').orderBy('a.id', 'DESC').limit(query.limit + 1);
    if (query.tenantId) builder.andWhere('a.tenant_id = :tenantId', { tenantId: query.tenantId });
    if (query.action) builder.andWhere('a.action = :action', { action: query.action });
    if (query.principalId) builder.andWhere('a.principal_id = :principalId', { principalId: query.principalId });
    if (query.result) builder.andWhere('a.result = :result', { result: query.result });
    if (query.since) builder.andWhere('a.at >= :since', { since: new Date(query.since) });
    if (query.until) builder.andWhere('a.at < :until', { until: new Date(query.until) });
    if (query.cursor) builder.andWhere('a.id < :cursor', { cursor: query.cursor });
    const rows = await builder.getMany();
    const items = rows.slice(0, query.limit);
    const last = items[items.length - 1];
    return {
      items: items.map((row) => ({
        id: String(row.id),
        at: row.at.toISOString(),
        principalId: row.principalId,
        principalKind: row.principalKind,
        role: row.role,
        tenantId: row.tenantId,
        action: row.action,
        target: row.target,
        result: row.result as 'success' | 'failure',
        status: row.status,
        requestId: row.requestId,
        sourceAddress: row.sourceAddress,
      })),
      nextCursor: rows.length > query.limit && last ? String(last.id) : null,
    };
  }
}
