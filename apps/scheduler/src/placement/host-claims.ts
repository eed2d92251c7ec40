import type { EntityManager } from 'typeorm';
import { queryRows, SCHEMA } from '../database/sql';
import type { WorkloadEntity } from '../workloads/workload.entity';
import { isPulledImage } from '../images/image-reference';
import type { HostIndex } from './host-index';
import {
  describeResources,
  explainNoPlacement,
  DEDICATED_LABEL,
  normalizeImageRef,
  parseConstraint,
  rankHosts,
  rejectionOf,
  VM_MEMORY_OVERHEAD_MIB,
  vmTemplateKey,
  type HostSnapshot,
  type PlacementRequest,
  type PlacementSettings,
} from './placement';

/** How many of the best-scored hosts a placement considers; enough for dozens of concurrent placements to spread over. */
const CANDIDATE_LIMIT = 32;

export type ClaimOutcome = { placed: true; hostId: string } | { placed: false; reason: string };

export interface HostRow {
  id: string;
  state: HostSnapshot['state'];
  drivers: string[];
  labels: Record<string, string>;
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
export const HOST_COLUMNS = `"id", "state", "drivers", "labels",
  CASE WHEN "images" @> ARRAY[$1::text] THEN ARRAY[$1::text] ELSE '{}'::text[] END AS "images",
  "capacity_cpu_millis", "capacity_memory_mib", "capacity_pids",
  "allocated_cpu_millis", "allocated_memory_mib", "allocated_pids"`;

type RequestSource = Pick<WorkloadEntity, 'tenantId' | 'kind' | 'image' | 'cpuMillis' | 'memoryMiB' | 'pids' | 'placement'>;

export function placementRequestOf(workload: RequestSource): PlacementRequest {
  const hints = workload.placement ?? {};
  const isVm = workload.kind === 'vm';
  return {
    tenantId: workload.tenantId,
    driver: isVm ? 'vm' : 'docker',
    // A VM needs its template on the host, and its claim includes QEMU's own memory overhead.
    image: isVm ? vmTemplateKey(workload.image) : workload.image,
    resources: { cpuMillis: workload.cpuMillis, memoryMiB: workload.memoryMiB + (isVm ? VM_MEMORY_OVERHEAD_MIB : 0), pids: workload.pids },
    constraints: hints.constraints ?? [],
    affinityGroup: hints.affinityGroup ?? null,
    antiAffinityGroup: hints.antiAffinityGroup ?? null,
    policy: hints.policy ?? null,
    dedicated: hints.dedicated ?? false,
  };
}

export interface LoadOptions {
  /**
   * Only hosts that pass the state, driver, image, dedication, constraint and capacity filters
   * (exactly those filters, translated to SQL).
   */
  candidatesOnly: boolean;
  /**
   * With `candidatesOnly`: only the best `limit` by the policy's score, computed in SQL with
   * the same formula as `scoreHost` (so a 10,000-host fleet is not shipped per create).
   */
  limit?: number;
  /** Leave this workload out of the group membership (explaining a workload that is already placed). */
  excludeWorkloadId?: string;
}

/**
 * The state, driver, image, dedication, constraint and capacity filters as one SQL condition
 * (the same arithmetic as `rejectionOf`, in float8 like JavaScript). `params[0]` must be the
 * normalised image; the filter's own parameters are appended to `params`.
 */
function candidateFilter(request: PlacementRequest, settings: PlacementSettings, params: unknown[]): string {
  const { reserved, allocationRatios: ratio } = settings;
  params.push(request.driver);
  const driver = `$${params.length}`;
  const fits = (column: string, key: 'cpuMillis' | 'memoryMiB' | 'pids') => {
    params.push(reserved[key], ratio[key], request.resources[key]);
    const [r, k, q] = [params.length - 2, params.length - 1, params.length];
    return `"capacity_${column}" - $${r} >= $${q}
      AND GREATEST(0, floor(("capacity_${column}" - $${r})::float8 * $${k}::float8)) - "allocated_${column}" >= $${q}`;
  };
  // A registry image is pulled by the agent, so only bare names filter on the host's images.
  const imageFilter = isPulledImage(request.image) ? '' : `AND "images" @> ARRAY[$1::text]`;
  let where = `"state" = 'ready' AND "drivers" @> ARRAY[${driver}::text] ${imageFilter}
    AND ${fits('cpu_millis', 'cpuMillis')} AND ${fits('memory_mib', 'memoryMiB')} AND ${fits('pids', 'pids')}`;
  params.push(request.tenantId);
  const tenant = `$${params.length}`;
  where += request.dedicated
    ? ` AND "labels"->>'${DEDICATED_LABEL}' = ${tenant}`
    : ` AND coalesce("labels"->>'${DEDICATED_LABEL}', ${tenant}) = ${tenant}`;
  for (const constraint of (request.constraints ?? []).map(parseConstraint)) {
    params.push(constraint.key);
    const key = `$${params.length}`;
    if (constraint.op === 'exists') where += ` AND "labels" ? ${key}`;
    else if (constraint.op === 'absent') where += ` AND NOT ("labels" ? ${key})`;
    else {
      params.push(constraint.value);
      const value = `$${params.length}`;
      where += constraint.op === '=' ? ` AND "labels"->>${key} = ${value}` : ` AND ("labels"->>${key}) IS DISTINCT FROM ${value}`;
    }
  }
  return where;
}

/**
 * Hosts seen through the lens of one request: the image asked about, and the request
 * tenant's affinity/anti-affinity groups present on each host. With `candidatesOnly` SQL
 * applies the cheap exact filters first, so a full fleet does not cross the wire for
 * every create; the pure filters still run on whatever comes back.
 */
export async function loadHostSnapshots(
  manager: EntityManager,
  request: PlacementRequest,
  settings: PlacementSettings,
  options: LoadOptions,
): Promise<{ hosts: HostSnapshot[]; affinityPlaced: boolean }> {
  const params: unknown[] = [normalizeImageRef(request.image)];
  const where = options.candidatesOnly ? `WHERE ${candidateFilter(request, settings, params)}` : '';
  let order = 'ORDER BY "id"';
  if (options.candidatesOnly && options.limit !== undefined) {
    const { reserved, allocationRatios: ratio, weights } = settings;
    const utilisation = (column: string, key: 'cpuMillis' | 'memoryMiB') => {
      params.push(reserved[key], ratio[key], request.resources[key]);
      const [r, k, q] = [params.length - 2, params.length - 1, params.length];
      const total = `GREATEST(0, floor(("capacity_${column}" - $${r})::float8 * $${k}::float8))`;
      return `CASE WHEN ${total} <= 0 THEN 1 ELSE LEAST(1, ("allocated_${column}" + $${q})::float8 / ${total}) END`;
    };
    const weightSum = weights.cpu + weights.memory;
    params.push(weights.cpu, weights.memory, weightSum > 0 ? weightSum : 1);
    const [wc, wm, ws] = [params.length - 2, params.length - 1, params.length];
    const fullness = `(($${wc}::float8 * ${utilisation('cpu_millis', 'cpuMillis')} + $${wm}::float8 * ${utilisation('memory_mib', 'memoryMiB')}) / $${ws}::float8)`;
    const policy = request.policy ?? settings.policy;
    params.push(options.limit);
    order = `ORDER BY ${fullness} ${policy === 'binpack' ? 'DESC' : 'ASC'}, "id" LIMIT $${params.length}`;
  }
  const rows = await queryRows<HostRow>(manager, `SELECT ${HOST_COLUMNS} FROM "${SCHEMA}"."hosts" ${where} ${order}`, params);
  const snapshots = rows.map(toSnapshot);
  const affinityPlaced = await attachGroups(manager, snapshots, request, options.excludeWorkloadId ?? null, null);
  return { hosts: snapshots, affinityPlaced };
}

/**
 * Fills in which of the request's groups each host runs a live member of. `onlyHostId`
 * restricts the lookup to one host (the re-check under that host's lock). Returns whether a
 * member of the affinity group runs anywhere (on any host, loaded or not).
 */
async function attachGroups(manager: EntityManager, hosts: HostSnapshot[], request: PlacementRequest, excludeWorkloadId: string | null, onlyHostId: string | null): Promise<boolean> {
  if (!request.affinityGroup && !request.antiAffinityGroup) return false;
  const rows = await queryRows<{ host_id: string; affinity: boolean; anti: boolean }>(
    manager,
    `SELECT DISTINCT "host_id", ("affinity_group" = $2) IS TRUE AS "affinity", ("anti_affinity_group" = $3) IS TRUE AS "anti"
       FROM "${SCHEMA}"."workloads"
      WHERE "tenant_id" = $1 AND "host_id" IS NOT NULL AND "state" <> 'deleted'
        AND ("affinity_group" = $2 OR "anti_affinity_group" = $3)
        AND ($4::uuid IS NULL OR "id" <> $4::uuid) AND ($5::text IS NULL OR "host_id" = $5::text)`,
    [request.tenantId, request.affinityGroup ?? null, request.antiAffinityGroup ?? null, excludeWorkloadId, onlyHostId],
  );
  const byId = new Map(hosts.map((host) => [host.id, host]));
  for (const row of rows) {
    const host = byId.get(row.host_id);
    if (!host) continue;
    if (row.affinity) host.affinityGroups = [request.affinityGroup!];
    if (row.anti) host.antiAffinityGroups = [request.antiAffinityGroup!];
  }
  return rows.some((row) => row.affinity);
}

/**
 * Places `workload` inside the caller's transaction: rank candidate hosts on a plain read,
 * then take the best one's row lock and re-check it — every filter, groups included —
 * because another replica may have claimed from it since the read. The first pass skips
 * hosts whose lock another placement holds (no convoy behind the best-scored host); hosts
 * skipped that way get a second, waiting pass before the workload is declared pending.
 * Each attempt runs in a savepoint, so a host that no longer fits is unlocked at once.
 */
export async function claimBestHost(manager: EntityManager, workload: WorkloadEntity, settings: PlacementSettings, index?: HostIndex): Promise<ClaimOutcome> {
  const request = placementRequestOf(workload);
  const withoutGroups = !request.affinityGroup && !request.antiAffinityGroup;
  if (index && withoutGroups) {
    // Ranked on this replica's picture of the fleet (no scan in SQL); the lock is the authority.
    const hinted = await index.candidates(manager, request, settings, CANDIDATE_LIMIT);
    for (const host of hinted) {
      if (await claimIfStillFits(manager, workload.id, host.id, request, settings, true)) {
        index.claimed(host.id, request.resources);
        return { placed: true, hostId: host.id };
      }
    }
    // Every hint was taken or wrong: the picture is stale; rank in SQL this time.
    if (hinted.length > 0) index.invalidate();
  }
  // The best few by SQL's score first; only if groups filter all of them out, every candidate.
  let { hosts, affinityPlaced: withAffinity } = await loadHostSnapshots(manager, request, settings, { candidatesOnly: true, limit: CANDIDATE_LIMIT });
  let candidates = rankHosts(hosts, request, settings, withAffinity);
  if (candidates.length === 0 && hosts.length === CANDIDATE_LIMIT) {
    ({ hosts, affinityPlaced: withAffinity } = await loadHostSnapshots(manager, request, settings, { candidatesOnly: true }));
    candidates = rankHosts(hosts, request, settings, withAffinity);
  }
  if (candidates.length === 0) {
    const all = await loadHostSnapshots(manager, request, settings, { candidatesOnly: false });
    return { placed: false, reason: explainNoPlacement(all.hosts, request, settings) };
  }

  const skipped: string[] = [];
  if (withoutGroups) {
    // Every filter of a request without groups reads only the host row: lock, re-check and
    // claim in one statement per attempt, no savepoint (see claimIfStillFits).
    for (const pass of ['skip_locked', 'wait'] as const) {
      for (const hostId of pass === 'skip_locked' ? candidates.map((c) => c.id) : skipped) {
        if (await claimIfStillFits(manager, workload.id, hostId, request, settings, pass === 'skip_locked')) {
          index?.claimed(hostId, request.resources);
          return { placed: true, hostId };
        }
        if (pass === 'skip_locked') skipped.push(hostId);
      }
    }
    return { placed: false, reason: `no ready host has room for ${describeResources(request.resources)}` };
  }
  for (const pass of ['skip_locked', 'wait'] as const) {
    for (const hostId of pass === 'skip_locked' ? candidates.map((c) => c.id) : skipped) {
      await manager.query('SAVEPOINT "claim_attempt"');
      const [locked] = await queryRows<HostRow>(
        manager,
        `SELECT ${HOST_COLUMNS} FROM "${SCHEMA}"."hosts" WHERE "id" = $2 FOR UPDATE ${pass === 'skip_locked' ? 'SKIP LOCKED' : ''}`,
        [normalizeImageRef(request.image), hostId],
      );
      if (!locked && pass === 'skip_locked') {
        skipped.push(hostId);
        await manager.query('ROLLBACK TO SAVEPOINT "claim_attempt"');
        continue;
      }
      if (locked) {
        const snapshot = toSnapshot(locked);
        await attachGroups(manager, [snapshot], request, null, hostId);
        if (rejectionOf(snapshot, request, settings, withAffinity) === null) {
          await writeClaim(manager, workload.id, hostId, request);
          await manager.query('RELEASE SAVEPOINT "claim_attempt"');
          return { placed: true, hostId };
        }
      }
      await manager.query('ROLLBACK TO SAVEPOINT "claim_attempt"');
    }
  }
  return { placed: false, reason: `no ready host has room for ${describeResources(request.resources)}` };
}

/**
 * One statement: lock the host row (skipping it when another placement holds it, with
 * `skipLocked`), re-check the filters on the locked row, and write the claim and the host's
 * allocation. Under READ COMMITTED the lock is taken on the newest committed version of the
 * row and the WHERE is re-evaluated on that version (EvalPlanQual), so a claim committed
 * after this statement's snapshot is counted; the UPDATE adds to that same version. False:
 * the host is locked by another placement, or no longer fits (when it stopped fitting because
 * of a concurrent claim, the lock may stay held until this transaction ends, which only
 * makes others skip it for a few milliseconds).
 *
 * Only for requests without affinity groups: group membership lives in other rows, which this
 * statement's snapshot may not show (groups go through the savepoint path above). The pure
 * filters still run on the locked row as it was before the claim; SQL and JavaScript are the
 * same rules, and if they ever disagree the transaction is aborted rather than trusted.
 */
async function claimIfStillFits(manager: EntityManager, workloadId: string, hostId: string, request: PlacementRequest, settings: PlacementSettings, skipLocked: boolean): Promise<boolean> {
  const params: unknown[] = [normalizeImageRef(request.image), hostId, workloadId, request.resources.cpuMillis, request.resources.memoryMiB, request.resources.pids];
  const filter = candidateFilter(request, settings, params);
  const [locked] = await queryRows<HostRow>(
    manager,
    `WITH "locked" AS (
       SELECT ${HOST_COLUMNS} FROM "${SCHEMA}"."hosts" WHERE "id" = $2 AND ${filter} FOR UPDATE ${skipLocked ? 'SKIP LOCKED' : ''}
     ), "claim" AS (
       INSERT INTO "${SCHEMA}"."claims" ("workload_id", "host_id", "cpu_millis", "memory_mib", "pids")
       SELECT $3::uuid, "id", $4::int, $5::int, $6::int FROM "locked"
     )
     UPDATE "${SCHEMA}"."hosts" h
        SET "allocated_cpu_millis" = h."allocated_cpu_millis" + $4::int,
            "allocated_memory_mib" = h."allocated_memory_mib" + $5::int,
            "allocated_pids" = h."allocated_pids" + $6::int,
            "generation" = h."generation" + 1,
            "updated_at" = now()
       FROM "locked" WHERE h."id" = "locked"."id"
     RETURNING "locked".*`,
    params,
  );
  if (!locked) return false;
  const rejection = rejectionOf(toSnapshot(locked), request, settings, false);
  if (rejection !== null) {
    throw new Error(`placement rules disagree: SQL claimed host ${hostId} for workload ${workloadId}, the ${rejection.filter} filter refuses it (${rejection.detail})`);
  }
  return true;
}

/**
 * Claims `hostId` for the workload if, under the host's row lock, it still passes every filter.
 * For callers that already know the host (preemption just made room there).
 */
export async function claimOnHost(manager: EntityManager, workloadId: string, hostId: string, request: PlacementRequest, settings: PlacementSettings, withAffinity: boolean): Promise<boolean> {
  const [locked] = await queryRows<HostRow>(manager, `SELECT ${HOST_COLUMNS} FROM "${SCHEMA}"."hosts" WHERE "id" = $2 FOR UPDATE`, [normalizeImageRef(request.image), hostId]);
  if (!locked) return false;
  const snapshot = toSnapshot(locked);
  await attachGroups(manager, [snapshot], request, workloadId, hostId);
  if (rejectionOf(snapshot, request, settings, withAffinity) !== null) return false;
  await writeClaim(manager, workloadId, hostId, request);
  return true;
}

/** The claim write itself: claim row, host allocation and generation. Also what the bench measures bare. */
export async function writeClaim(manager: EntityManager, workloadId: string, hostId: string, request: Pick<PlacementRequest, 'resources'>): Promise<void> {
  const { cpuMillis, memoryMiB, pids } = request.resources;
  // One statement, one round trip; the caller holds the host's row lock.
  await manager.query(
    `WITH "claim" AS (
       INSERT INTO "${SCHEMA}"."claims" ("workload_id", "host_id", "cpu_millis", "memory_mib", "pids") VALUES ($5, $1, $2, $3, $4)
     )
     UPDATE "${SCHEMA}"."hosts"
        SET "allocated_cpu_millis" = "allocated_cpu_millis" + $2,
            "allocated_memory_mib" = "allocated_memory_mib" + $3,
            "allocated_pids" = "allocated_pids" + $4,
            "generation" = "generation" + 1,
            "updated_at" = now()
      WHERE "id" = $1`,
    [hostId, cpuMillis, memoryMiB, pids, workloadId],
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
    labels: row.labels ?? {},
    images: row.images,
    capacity: { cpuMillis: row.capacity_cpu_millis, memoryMiB: row.capacity_memory_mib, pids: row.capacity_pids },
    allocated: { cpuMillis: row.allocated_cpu_millis, memoryMiB: row.allocated_memory_mib, pids: row.allocated_pids },
  };
}
