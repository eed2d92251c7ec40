import { Injectable } from '@nestjs/common';
import { ErrorCode, GureumError, type ValidRequestOf, type WorkloadPage } from '@gureum/contracts';
import { decodeCursor, encodeCursor } from '@gureum/database';
import { DataSource } from 'typeorm';
import { assertOperator } from '../common/caller-access';
import { toWorkloadView } from './workload-view';
import { WorkloadEntity } from './workload.entity';

export type AdminListWorkloadsCommand = ValidRequestOf<'scheduler.cmd.admin.workload.list.v1'>;

/** Operators: every tenant's workloads, filtered; the same keyset order and cursor as the tenant list. */
@Injectable()
export class AdminListWorkloadsUseCase {
  constructor(private readonly dataSource: DataSource) {}

  async execute({ caller, limit, cursor, includeDeleted, tenantId, hostId, state, kind }: AdminListWorkloadsCommand): Promise<WorkloadPage> {
    assertOperator(caller);
    const after = cursor === undefined ? null : decodeCursor(cursor);
    if (cursor !== undefined && after === null) {
      throw new GureumError(ErrorCode.ValidationFailed, 'cursor is not one this service issued', { cursor });
    }
    const query = this.dataSource.manager
      .createQueryBuilder(WorkloadEntity, 'w')
      .orderBy('w.createdAt', 'ASC')
      .addOrderBy('w.id', 'ASC')
      .limit(limit + 1);
    if (tenantId !== undefined) query.andWhere('w.tenantId = :tenantId', { tenantId });
    if (hostId !== undefined) query.andWhere('w.hostId = :hostId', { hostId });
    if (state !== undefined) query.andWhere('w.state = :state', { state });
    if (kind !== undefined) query.andWhere('w.kind = :kind', { kind });
    // Asking for deleted workloads by state means wanting them.
    if (!includeDeleted && state !== 'deleted') query.andWhere('w.deletedAt IS NULL');
    if (after) query.andWhere('(w.createdAt, w.id) > (:afterCreatedAt, :afterId)', { afterCreatedAt: after.createdAt, afterId: after.id });

    const rows = await query.getMany();
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      items: page.map(toWorkloadView),
      nextCursor: rows.length > limit && last ? encodeCursor({ createdAt: last.createdAt, id: last.id }) : null,
    };
  }
}
