import type { HostView } from '@gureum/contracts';
import type { EntityManager } from 'typeorm';
import { queryRows, SCHEMA } from '../database/sql';
import type { HostState } from '../placement/placement';

interface HostViewRow {
  id: string;
  state: HostState;
  drivers: string[];
  labels: Record<string, string>;
  capacity_cpu_millis: number;
  capacity_memory_mib: number;
  capacity_pids: number;
  allocated_cpu_millis: number;
  allocated_memory_mib: number;
  allocated_pids: number;
  last_heartbeat_at: Date;
  drain_total: number | null;
  drain_blocked: Array<{ workloadId: string; reason: string }> | null;
  workload_count: number;
}

/** Hosts as operators see them, by id; one host when `hostId` is given. */
export async function loadHostViews(manager: EntityManager, hostId?: string): Promise<HostView[]> {
  const rows = await queryRows<HostViewRow>(
    manager,
    `SELECT h."id", h."state", h."drivers", h."labels",
            h."capacity_cpu_millis", h."capacity_memory_mib", h."capacity_pids",
            h."allocated_cpu_millis", h."allocated_memory_mib", h."allocated_pids",
            h."last_heartbeat_at", h."drain_total", h."drain_blocked",
            (SELECT count(*)::int FROM "${SCHEMA}"."workloads" w WHERE w."host_id" = h."id" AND w."state" <> 'deleted') AS "workload_count"
       FROM "${SCHEMA}"."hosts" h
      ${hostId === undefined ? '' : 'WHERE h."id" = $1'}
      ORDER BY h."id"`,
    hostId === undefined ? [] : [hostId],
  );
  return rows.map(toHostView);
}

function toHostView(row: HostViewRow): HostView {
  const draining = row.state === 'draining' || ((row.state === 'lost' || row.state === 'unreachable') && row.drain_total !== null);
  return {
    id: row.id,
    state: row.state,
    drivers: row.drivers,
    labels: row.labels,
    capacity: { cpuMillis: row.capacity_cpu_millis, memoryMiB: row.capacity_memory_mib, pids: row.capacity_pids },
    allocated: { cpuMillis: row.allocated_cpu_millis, memoryMiB: row.allocated_memory_mib, pids: row.allocated_pids },
    workloadCount: row.workload_count,
    drain: draining
      ? {
          total: Math.max(row.drain_total ?? 0, row.workload_count),
          remaining: row.workload_count,
          done: row.workload_count === 0,
          ...(row.drain_blocked && row.drain_blocked.length > 0 ? { blocked: row.drain_blocked } : {}),
        }
      : null,
    lastHeartbeatAt: row.last_heartbeat_at.toISOString(),
  };
}
