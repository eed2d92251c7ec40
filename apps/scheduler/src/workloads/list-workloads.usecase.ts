import { Injectable } from '@nestjs/common';
import { ErrorCode, GureumError, type ValidRequestOf, type WorkloadPage } from '@gureum/contracts';
import { decodeCursor, encodeCursor } from '@gureum/database';
import { DataSource } from 'typeorm';
import { toWorkloadView } from './workload-view';
import { WorkloadEntity } from './workload.entity';

export type ListWorkloadsCommand = ValidRequestOf<'scheduler.cmd.workload.list.v1'>;

@Injectable()
export class ListWorkloadsUseCase {
  constructor(private readonly dataSource: DataSource) {}

  /** Oldest first, keyset-paginated on (created_at, id): stable while workloads are added. */
  async execute({ caller, limit, cursor, includeDeleted }: ListWorkloadsCommand): Promise<WorkloadPage> {
    const after = cursor === undefined ? null : decodeCursor(cursor);
    if (cursor !== undefined && after === null) {
      throw new GureumError(ErrorCode.ValidationFailed, 'cursor is not one this service issued', { cursor });
    }
    const query = this.dataSource.manager
      .createQueryBuilder(WorkloadEntity, 'w')
      .where('w.tenantId = :tenantId', { tenantId: caller.tenantId })
      .orderBy('w.createdAt', 'ASC')
      .addOrderBy('w.id', 'ASC')
      .limit(limit + 1);
    if (!includeDeleted) query.andWhere('w.deletedAt IS NULL');
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
