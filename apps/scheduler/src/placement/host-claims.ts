import type { EntityManager } from 'typeorm';
import { queryRows, SCHEMA } from '../database/sql';
import type { WorkloadEntity } from '../workloads/workload.entity';
import {
  describeResources,
  explainNoPlacement,
  normalizeImageRef,
  rankHosts,
  rejectionOf,
  VM_MEMORY_OVERHEAD_MIB,
  vmTemplateKey,
  type HostSnapshot,
  type PlacementRequest,
} from './placement';

export type ClaimOutcome = { placed: true; hostId: string } | { placed: false; reason: string };

export interface HostRow {
  id: string;
  state: HostSnapshot['state'];
  drivers: string[];
  images: string[];
  capacity_cpu_millis: number;
  capacity_memory_mib: number;
  capacity_pids: number;
  allocated_cpu_millis: number;
  allocated_memory_mib: number;
  allocated_pids: number;
}

/**
 * Host columns for placement. Only the one image asked about is returned, not the host's
 * whole image list (thousands of entries): the filters only ask "has it this image?".
 */
export const HOST_COLUMNS = `"id", "state", "drivers",
  CASE WHEN "images" @> ARRAY[$1::text] THEN ARRAY[$1::text] ELSE '{}'::text[] END AS "images",
  "capacity_cpu_millis", "capacity_memory_mib", "capacity_pids",
  "allocated_cpu_millis", "allocated_memory_mib", "allocated_pids"`;

export function placementRequestOf(workload: Pick<WorkloadEntity, 'image' | 'cpuMillis' | 'memoryMiB' | 'pids'> & { kind?: WorkloadEntity['kind'] }): PlacementRequest {
  if (workload.kind === 'vm') {
    // A VM needs the vm driver and its template on the host; its claim includes QEMU's overhead.
    return {
      driver: 'vm',
      image: vmTemplateKey(workload.image),
      resources: { cpuMillis: workload.cpuMillis, memoryMiB: workload.memoryMiB + VM_MEMORY_OVERHEAD_MIB, pids: workload.pids },
    };
  }
  return { driver: 'docker', image: workload.image, resources: { cpuMillis: workload.cpuMillis, memoryMiB: workload.memoryMiB, pids: workload.pids } };
}

/** Every host (any state), seen through the lens of one image. */
export async function loadHostSnapshots(manager: EntityManager, image: string, options: { readyOnly: boolean }): Promise<HostSnapshot[]> {
  const rows = await queryRows<HostRow>(
    manager,
    `SELECT ${HOST_COLUMNS} FROM "${SCHEMA}"."hosts" ${options.readyOnly ? `WHERE "state" = 'ready'` : ''} ORDER BY "id"`,
    [normalizeImageRef(image)],
  );
  return rows.map(toSnapshot);
}

/**
 * Places `workload` inside the caller's transaction: rank hosts on a plain read, then take
 * the best one's row lock and re-check it, because another replica may have claimed from it
 * since the read. Each attempt runs in a savepoint, so a host that no longer fits is unlocked
 * again at once instead of being held (and deadlocking against a concurrent placement that
 * ranked hosts the other way round) until commit.
 */
export async function claimBestHost(manager: EntityManager, workload: WorkloadEntity): Promise<ClaimOutcome> {
  const request = placementRequestOf(workload);
  const hosts = await loadHostSnapshots(manager, request.image, { readyOnly: true });
  const candidates = rankHosts(hosts, request);
  if (candidates.length === 0) return { placed: false, reason: explainNoPlacement(hosts, request) };

  for (const candidate of candidates) {
    await manager.query('SAVEPOINT "claim_attempt"');
    const [locked] = await queryRows<HostRow>(manager, `SELECT ${HOST_COLUMNS} FROM "${SCHEMA}"."hosts" WHERE "id" = $2 FOR UPDATE`, [
      normalizeImageRef(request.image),
      candidate.id,
    ]);
    if (locked && rejectionOf(toSnapshot(locked), request) === null) {
      await writeClaim(manager, workload.id, candidate.id, request);
      await manager.query('RELEASE SAVEPOINT "claim_attempt"');
      return { placed: true, hostId: candidate.id };
    }
    await manager.query('ROLLBACK TO SAVEPOINT "claim_attempt"');
  }
  return { placed: false, reason: `no ready host has room for ${describeResources(request.resources)}` };
}

export async function writeClaim(manager: EntityManager, workloadId: string, hostId: string, request: PlacementRequest): Promise<void> {
  const { cpuMillis, memoryMiB, pids } = request.resources;
  await manager.query(
    `INSERT INTO "${SCHEMA}"."claims" ("workload_id", "host_id", "cpu_millis", "memory_mib", "pids") VALUES ($1, $2, $3, $4, $5)`,
    [workloadId, hostId, cpuMillis, memoryMiB, pids],
  );
  await manager.query(
    `UPDATE "${SCHEMA}"."hosts"
        SET "allocated_cpu_millis" = "allocated_cpu_millis" + $2,
            "allocated_memory_mib" = "allocated_memory_mib" + $3,
            "allocated_pids" = "allocated_pids" + $4,
            "generation" = "generation" + 1,
            "updated_at" = now()
      WHERE "id" = $1`,
    [hostId, cpuMillis, memoryMiB, pids],
  );
}

/**
 * Gives a workload's resources back to its host (claim row and host allocation together).
 * Returns the host id, or null when the workload held no claim.
 */
export async function releaseClaim(manager: EntityManager, workloadId: string): Promise<string | null> {
  const [claim] = await queryRows<{ host_id: string; cpu_millis: number; memory_mib: number; pids: number }>(
    manager,
    `DELETE FROM "${SCHEMA}"."claims" WHERE "workload_id" = $1 RETURNING "host_id", "cpu_millis", "memory_mib", "pids"`,
    [workloadId],
  );
  if (!claim) return null;
  await manager.query(
    `UPDATE "${SCHEMA}"."hosts"
        SET "allocated_cpu_millis" = "allocated_cpu_millis" - $2,
            "allocated_memory_mib" = "allocated_memory_mib" - $3,
            "allocated_pids" = "allocated_pids" - $4,
            "generation" = "generation" + 1,
            "updated_at" = now()
      WHERE "id" = $1`,
    [claim.host_id, claim.cpu_millis, claim.memory_mib, claim.pids],
  );
  return claim.host_id;
}

/** The host a workload holds a claim on and whether that host is ready, locking the claim. */
export async function findClaim(manager: EntityManager, workloadId: string): Promise<{ hostId: string; hostReady: boolean } | null> {
  const [row] = await queryRows<{ host_id: string; state: string }>(
    manager,
    `SELECT c."host_id", h."state" FROM "${SCHEMA}"."claims" c JOIN "${SCHEMA}"."hosts" h ON h."id" = c."host_id"
      WHERE c."workload_id" = $1 FOR UPDATE OF c`,
    [workloadId],
  );
  return row ? { hostId: row.host_id, hostReady: row.state === 'ready' } : null;
}

export function toSnapshot(row: HostRow): HostSnapshot {
  return {
    id: row.id,
    state: row.state,
    drivers: row.drivers,
    images: row.images,
    capacity: { cpuMillis: row.capacity_cpu_millis, memoryMiB: row.capacity_memory_mib, pids: row.capacity_pids },
    allocated: { cpuMillis: row.allocated_cpu_millis, memoryMiB: row.allocated_memory_mib, pids: row.allocated_pids },
  };
}
