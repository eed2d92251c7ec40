import { Injectable } from '@nestjs/common';
import type { WorkloadEventList, WorkloadState } from '@gureum/contracts';
import { DataSource } from 'typeorm';
import { queryRows, SCHEMA } from '../database/sql';
import { workloadNotFound } from './workload.exception';

export interface ListWorkloadEventsQuery {
  workloadId: string;
  /** The caller's tenant; null for an operator, who may read any tenant's workload. */
  tenantId: string | null;
}

/** Newest transitions kept in a reply; a workload flapping for weeks has more than a page needs. */
export const MAX_WORKLOAD_EVENTS = 500;

/** A workload's state transitions, oldest first (the last MAX_WORKLOAD_EVENTS of them). */
@Injectable()
export class ListWorkloadEventsUseCase {
  constructor(private readonly dataSource: DataSource) {}

  async execute({ workloadId, tenantId }: ListWorkloadEventsQuery): Promise<WorkloadEventList> {
    const manager = this.dataSource.manager;
    // The ownership check and the read are one statement's worth of truth: a workload of another
    // tenant is "not found", the same answer as one that never existed.
    const owner = await queryRows<{ id: string }>(
      manager,
      `SELECT "id" FROM "${SCHEMA}"."workloads" WHERE "id" = $1 AND ($2::uuid IS NULL OR "tenant_id" = $2::uuid)`,
      [workloadId, tenantId],
    );
    if (owner.length === 0) throw workloadNotFound(workloadId);
    const rows = await queryRows<{ from_state: WorkloadState | null; to_state: WorkloadState; reason: string | null; at: Date; host_id: string | null }>(
      manager,
      `SELECT * FROM (
         SELECT "id", "from_state", "to_state", "reason", "at", "host_id" FROM "${SCHEMA}"."workload_events"
         WHERE "workload_id" = $1 ORDER BY "id" DESC LIMIT $2
       ) newest ORDER BY "id" ASC`,
      [workloadId, MAX_WORKLOAD_EVENTS],
    );
    return { items: rows.map((row) => ({ from: row.from_state, to: row.to_state, reason: row.reason, at: row.at.toISOString(), hostId: row.host_id })) };
  }
}
