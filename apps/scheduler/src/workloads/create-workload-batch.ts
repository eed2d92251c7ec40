import { randomUUID } from 'node:crypto';
import { eventDef, parseOrThrow, type WorkloadSpec, type WorkloadView } from '@gureum/contracts';
import type { Logger } from '@gureum/runtime';
import type { DataSource } from 'typeorm';
import type { AfterCommit } from '../common/after-commit';
import type { SchedulerSettings } from '../common/tokens';
import { inQueuedTransaction, queryRows, type QueuedTransaction } from '../database/sql';
import type { RegistryTokens } from '../images/registry-tokens';
import { settleBatch, type BatchMember, type Settlement } from '../placement/batch-claims';
import { placementRequestOf, toSnapshot, type HostRow } from '../placement/host-claims';
import type { BatchRanker } from '../placement/batch-ranking';
import type { HostIndex } from '../placement/host-index';
import { normalizeImageRef, type HostSnapshot, type PlacementRequest } from '../placement/placement';
import { quotaDeltaOf, quotaExceeded } from '../quotas/quota';
import { toQuotaView, type UsageRow } from '../quotas/quota-store';
import { lockBatchStatement, workloadsByKeyStatement, writeBatchStatement, type SettledMember } from './create-batch-statements';
import type { WorkloadEntity } from './workload.entity';
import { workloadFromRow, type WorkloadRow } from './workload-row';
import { toWorkloadView } from './workload-view';

/** A create waiting in the batcher, with its caller's promise. */
export interface QueuedCreate {
  command: {
    caller: { tenantId: string; requestId: string };
    spec: WorkloadSpec;
    idempotencyKey?: string | undefined;
  };
  resolve(view: WorkloadView): void;
  reject(error: unknown): void;
  /** 1 for the first batch it rides in; a create that found no room under the lock is retried once. */
  attempt: number;
}


interface Ranked {
  item: QueuedCreate;
  member: BatchMember;
  workloadId: string;
}

interface Written {
  placed: Array<{ ranked: Ranked; workload: WorkloadEntity }>;
  /** Members whose idempotency key an earlier workload holds: answered with it, read after the commit. */
  replayed: Ranked[];
  refused: Array<{ ranked: Ranked; settlement: Extract<Settlement, { kind: 'quota_exceeded' }> }>;
  noRoom: Ranked[];
  /** Members of a suspended tenant: the single path gives them its exact refusal. */
  alone: Ranked[];
}

export interface BatchDependencies {
  dataSource: DataSource;
  afterCommit: AfterCommit;
  settings: SchedulerSettings;
  logger: Logger;
  registryTokens: RegistryTokens;
  hostIndex: HostIndex;
  /** This replica's rankings of batch members, reused across batches for the index's refresh period. */
  ranker: BatchRanker;
  /** The one-create-per-transaction path, for every member the batch does not settle itself. */
  single(item: QueuedCreate): void;
  /** Replays an earlier workload (checks the spec is the same); throws `conflict` otherwise. */
  replay(existing: WorkloadEntity, item: QueuedCreate): WorkloadView;
  /** Rides again in the next batch. */
  retry(item: QueuedCreate): void;
}

/**
 * Group commit of creates without affinity groups: a batch is placed in memory on the
 * replica's host index (a hint), then written in ONE transaction of two statements — lock
 * hosts + lock quota rows (the same round trip reads which keys are taken and which tenants
 * are suspended), then write (each placed member inserted straight as `scheduled`,
 * idempotency by ON CONFLICT, with its claim, charge and events) — BEGIN sent with the first
 * and COMMIT with the second (`inQueuedTransaction`: two round trips), and answered after the
 * commit. The lock is the authority, exactly as for one create: `settleBatch` re-runs every
 * filter on the locked host rows and every quota on the locked usage rows, member by member,
 * so no interleaving with other batches, other replicas or single creates can overcommit a
 * host or a quota. A member the batch cannot settle (no candidate in the picture — which is
 * also every member no host could ever run —, a refused registry pull, a suspended tenant, no
 * room under the lock twice, or the transaction failed) goes through the single path, which
 * answers it exactly as if it had come alone (replay first, then its own checks).
 */
export async function runCreateBatch(items: QueuedCreate[], deps: BatchDependencies): Promise<void> {
  // The ranking (which may reload the host index) runs on one connection the batch holds:
  // single creates waiting inside their transactions for that same index reload must never
  // wait for a pool connection that only they could give back.
  const runner = deps.dataSource.createQueryRunner();
  const ranked: Ranked[] = [];
  let unranked: QueuedCreate[] | null = null;
  try {
    await runner.connect();
  } catch (error) {
    await runner.release();
    deps.logger.warn({ err: error, size: items.length }, 'create batch got no connection; creating its members one by one');
    for (const item of items) deps.single(item);
    return;
  }
  try {
    const eligible = await pullAllowed(items, deps);
    unranked = [...eligible];
    const dedicatedTenants = await deps.hostIndex.dedicatedTenants(runner.manager);
    // Place in memory, member after member: each one's first choice is counted before the next
    // is ranked, so a batch spreads over hosts as successive creates would (BatchRanker).
    const { ranker } = deps;
    ranker.begin(runner.manager, dedicatedTenants, eligible.length);
    for (const item of eligible) {
      const request = requestOf(item);
      const hosts = await ranker.rank(request);
      unranked.shift();
      if (hosts.length === 0) {
        // No room in the picture: SQL ranking, preemption or pending — the single path's business.
        deps.single(item);
        continue;
      }
      ranked.push({
        item,
        member: { request, quota: quotaDeltaOf({ kind: item.command.spec.kind, ...item.command.spec.resources }), candidates: hosts.map((host) => host.id) },
        workloadId: randomUUID(),
      });
    }
  } catch (error) {
    // Not past the pull check (which routes every member itself): a bug, for the batcher.
    if (unranked === null) throw error;
    // Nothing is written yet: whoever has no answer or route yet goes alone.
    deps.hostIndex.invalidate();
    deps.ranker.reset();
    deps.logger.warn({ err: error, size: items.length }, 'create batch could not be placed; creating its members one by one');
    for (const item of [...ranked.map((entry) => entry.item), ...unranked]) deps.single(item);
    return;
  } finally {
    await runner.release();
  }
  if (ranked.length === 0) return;

  let written: Written;
  try {
    written = await inQueuedTransaction(deps.dataSource, (tx) => writeBatch(tx, ranked, deps));
  } catch (error) {
    // The batch as a whole failed (not a member's own refusal): every member alone.
    deps.hostIndex.invalidate();
    deps.ranker.reset();
    deps.logger.warn({ err: error, size: ranked.length }, 'create batch failed; creating its members one by one');
    for (const { item } of ranked) deps.single(item);
    return;
  }

  deps.logger.debug(
    { size: items.length, placed: written.placed.length, replayed: written.replayed.length, refused: written.refused.length, noRoom: written.noRoom.length },
    'create batch committed',
  );
  // The picture counted each member on its first choice; correct it to what was written.
  // (The rankings carried to the next batches likewise; a member that moved to another host
  // than ranked, or found no room, means the picture was wrong: both are ranked afresh.)
  let pictureWrong = written.noRoom.length > 0;
  for (const { ranked: entry, workload } of written.placed) {
    const first = entry.member.candidates[0]!;
    if (workload.hostId !== first) {
      deps.hostIndex.claimed(first, negate(entry.member.request.resources));
      deps.hostIndex.claimed(workload.hostId!, entry.member.request.resources);
      pictureWrong = true;
    }
  }
  for (const entry of [...written.replayed, ...written.refused.map((r) => r.ranked), ...written.noRoom, ...written.alone]) {
    deps.hostIndex.claimed(entry.member.candidates[0]!, negate(entry.member.request.resources));
    deps.ranker.release(entry.member.candidates[0]!, entry.member.request.resources);
  }
  // Room the picture promised was not there under the lock: it is stale (another replica's claims).
  if (written.noRoom.length > 0) deps.hostIndex.invalidate();
  if (pictureWrong) deps.ranker.reset();

  const nodes = new Set(written.placed.map(({ workload }) => workload.hostId!));
  if (written.placed.length > 0) deps.afterCommit.run({ nodesToNudge: nodes, nudgeReason: `${written.placed.length} workloads scheduled` });
  for (const { ranked: entry, workload } of written.placed) {
    deps.logger.debug(
      { tenantId: workload.tenantId, workloadId: workload.id, state: workload.state, hostId: workload.hostId, reason: workload.reason, requestId: entry.item.command.caller.requestId },
      'workload created',
    );
    entry.item.resolve(toWorkloadView(workload));
  }
  for (const { ranked: entry, settlement } of written.refused) entry.item.reject(quotaExceeded(settlement.violation));
  for (const entry of written.alone) deps.single(entry.item);
  for (const entry of written.noRoom) {
    if (entry.item.attempt < 2) deps.retry({ ...entry.item, attempt: entry.item.attempt + 1 });
    else deps.single(entry.item);
  }
  // Last: the one read this takes would hold up every answer above.
  await answerReplays(written.replayed, deps);
}

/**
 * The registry pull check of every member whose image is in Gureum's registry (cached
 * tokens): a member refused goes to the single path, which answers a replay before it
 * checks anything (the key promises the earlier result) and otherwise gives the refusal.
 * What the single path checks before its transaction — the key, a suspended tenant — the
 * batch asks in its lock statement; "could any host run this at all?" needs no question: a
 * member with a candidate in the picture has a host that holds it and has (or pulls) its image,
 * and one without goes alone.
 */
async function pullAllowed(items: QueuedCreate[], deps: BatchDependencies): Promise<QueuedCreate[]> {
  const pulls = await Promise.allSettled(items.map((item) => deps.registryTokens.pullAuth(item.command.caller.tenantId, item.command.spec.image)));
  return items.filter((item, i) => {
    if (pulls[i]!.status === 'fulfilled') return true;
    deps.single(item);
    return false;
  });
}

async function writeBatch(tx: QueuedTransaction, ranked: Ranked[], deps: BatchDependencies): Promise<Written> {
  const written: Written = { placed: [], replayed: [], refused: [], noRoom: [], alone: [] };

  // 1. Lock (lockBatchStatement): the candidate hosts of every member, in id order, as they
  // are now; then the tenants' quota rows (host → quota, as everywhere). The same round trip
  // says which keys are taken already and which tenants are suspended.
  const hostIds = [...new Set(ranked.flatMap((entry) => entry.member.candidates))].sort(compareIds);
  const images = [...new Set(ranked.map((entry) => normalizeImageRef(entry.member.request.image)))];
  const tenantIds = [...new Set(ranked.map((entry) => entry.member.request.tenantId))];
  const keys = ranked.flatMap((entry) => (entry.item.command.idempotencyKey === undefined ? [] : [{ tenant_id: entry.item.command.caller.tenantId, idempotency_key: entry.item.command.idempotencyKey }]));
  const lock = lockBatchStatement(hostIds, images, tenantIds, keys);
  const [locked] = await tx.query<{ hosts: HostRow[]; quotas: Array<UsageRow & { tenant_id: string }>; taken: Array<[string, string]>; suspended: string[] }>(lock.text, lock.values);
  if (!locked) throw new Error('create batch: the lock statement returned no row');
  const hosts = new Map<string, HostSnapshot>(locked.hosts.map((row) => [row.id, toSnapshot(row)]));
  const quotas = new Map(locked.quotas.map((row) => [row.tenant_id, toQuotaView(row, deps.settings.defaultQuotas)]));
  const takenKeys = new Set(locked.taken.map(([tenantId, key]) => keyOf(tenantId, key)));
  const suspended = new Set(locked.suspended);

  // 2. Settle each member in order on the locked rows; nothing of a member that is not placed
  // is ever written. A replay (its key taken) is answered with the earlier workload, whatever
  // the fleet or the quota say now; a suspended tenant's member goes alone.
  const taken: Ranked[] = [];
  const toSettle: Ranked[] = [];
  for (const entry of ranked) {
    const { caller, idempotencyKey } = entry.item.command;
    if (idempotencyKey !== undefined && takenKeys.has(keyOf(caller.tenantId, idempotencyKey))) taken.push(entry);
    else if (suspended.has(caller.tenantId)) written.alone.push(entry);
    else toSettle.push(entry);
  }
  const settlements = settleBatch(
    toSettle.map((entry) => entry.member),
    hosts,
    quotas,
    deps.settings.placement,
  );
  const settled: Array<{ entry: Ranked; hostId: string }> = [];
  toSettle.forEach((entry, i) => {
    const settlement = settlements[i]!;
    if (settlement.kind === 'placed') settled.push({ entry, hostId: settlement.hostId });
    else if (settlement.kind === 'quota_exceeded') written.refused.push({ ranked: entry, settlement });
    else written.noRoom.push(entry);
  });
  // 3. Write (writeBatchStatement), COMMIT right behind it: the placed members' workloads,
  // `scheduled` from the start, with claims, allocations, charges and events — for those whose
  // idempotency key was free. (Nothing to write: the transaction commits by itself.)
  const stored = new Map<string, WorkloadEntity>();
  if (settled.length > 0) {
    const write = writeBatchStatement(settled.map(({ entry, hostId }) => settledMemberOf(entry, hostId)));
    for (const row of await tx.commitWith<WorkloadRow>(write.text, write.values)) stored.set(row.id, workloadFromRow(row));
  }
  for (const { entry, hostId } of settled) {
    const workload = stored.get(entry.workloadId);
    if (!workload) {
      taken.push(entry);
      continue;
    }
    if (workload.hostId !== hostId) throw new Error(`create batch: workload ${entry.workloadId} was not scheduled on ${hostId} as settled`);
    written.placed.push({ ranked: entry, workload });
  }
  // Replays: keys an earlier workload held (seen by the lock statement), and keys a concurrent
  // create took first (the write's ON CONFLICT: their settlement counted room they did not
  // take, so the members after them were only settled more tightly than they had to be, never
  // over). Their winners are read after the commit (answerReplays).
  written.replayed.push(...taken);
  return written;
}

/**
 * Answers the members whose key an earlier workload holds with that workload, in one read
 * after the batch committed (every winner was seen committed: by the lock statement's
 * snapshot, or waited for by the write's ON CONFLICT). A winner gone since (deleted), or a
 * failed read, sends the member alone: the single path answers a replay or creates anew.
 */
async function answerReplays(replayed: Ranked[], deps: BatchDependencies): Promise<void> {
  if (replayed.length === 0) return;
  const keyOfEntry = (entry: Ranked) => keyOf(entry.item.command.caller.tenantId, entry.item.command.idempotencyKey!);
  let winners: Map<string, WorkloadEntity>;
  try {
    const lookup = workloadsByKeyStatement(replayed.map((entry) => ({ tenant_id: entry.item.command.caller.tenantId, idempotency_key: entry.item.command.idempotencyKey! })));
    const rows = await queryRows<WorkloadRow>(deps.dataSource.manager, lookup.text, lookup.values);
    winners = new Map(rows.map((row) => [keyOf(row.tenant_id, row.idempotency_key!), workloadFromRow(row)]));
  } catch (error) {
    deps.logger.warn({ err: error, size: replayed.length }, 'create batch could not read the workloads it replays; creating those members one by one');
    winners = new Map();
  }
  for (const entry of replayed) {
    const winner = winners.get(keyOfEntry(entry));
    if (!winner) deps.single(entry.item);
    else answer(entry.item, () => deps.replay(winner, entry.item));
  }
}

function requestOf(item: QueuedCreate): PlacementRequest {
  const { spec, caller } = item.command;
  return placementRequestOf({ tenantId: caller.tenantId, kind: spec.kind, image: spec.image, placement: spec.placement ?? null, ...spec.resources });
}

const STATE_EVENT = eventDef('evt.workload.state.v1');

/**
 * A placed member as the write statement takes it, with the payload of its opening event
 * (`null → scheduled`), validated like every other outbox payload (`at` is replaced by the
 * history row's timestamp in SQL).
 */
function settledMemberOf(entry: Ranked, hostId: string): SettledMember {
  const { spec, caller, idempotencyKey } = entry.item.command;
  const { request, quota } = entry.member;
  const eventId = randomUUID();
  const payload = parseOrThrow(
    STATE_EVENT.payload,
    {
      eventId,
      workloadId: entry.workloadId,
      tenantId: caller.tenantId,
      hostId,
      from: null,
      to: 'scheduled',
      reason: null,
      generation: 0,
      at: new Date().toISOString(),
      resources: { cpuMillis: spec.resources.cpuMillis, memoryMiB: spec.resources.memoryMiB, pids: spec.resources.pids },
    },
    `event ${STATE_EVENT.subject}`,
  ) as object;
  return {
    id: entry.workloadId,
    tenant_id: caller.tenantId,
    name: spec.name,
    kind: spec.kind,
    image: spec.image,
    command: spec.kind === 'container' ? (spec.command ?? null) : null,
    env: spec.kind === 'container' ? (spec.env ?? null) : null,
    cpu_millis: spec.resources.cpuMillis,
    memory_mib: spec.resources.memoryMiB,
    pids: spec.resources.pids,
    idempotency_key: idempotencyKey ?? null,
    placement: spec.placement ?? null,
    priority: spec.priority ?? 0,
    preemptible: spec.preemptible ?? false,
    read_only_root_filesystem: spec.kind === 'container' && spec.readOnlyRootFilesystem === true,
    vm: spec.kind === 'vm' ? spec.vm : null,
    host_id: hostId,
    claim_cpu_millis: request.resources.cpuMillis,
    claim_memory_mib: request.resources.memoryMiB,
    claim_pids: request.resources.pids,
    quota_cpu_millis: quota.cpuMillis,
    quota_memory_mib: quota.memoryMiB,
    quota_pids: quota.pids,
    quota_workloads: quota.workloads,
    quota_vms: quota.vms,
    event_id: eventId,
    payload,
  };
}

function negate(resources: PlacementRequest['resources']): PlacementRequest['resources'] {
  return { cpuMillis: -resources.cpuMillis, memoryMiB: -resources.memoryMiB, pids: -resources.pids };
}

function answer(item: QueuedCreate, produce: () => WorkloadView): void {
  try {
    item.resolve(produce());
  } catch (error) {
    item.reject(error);
  }
}

function keyOf(tenantId: string, idempotencyKey: string): string {
  return `${tenantId}\0${idempotencyKey}`;
}

/** Byte order, like the placement tie-break. */
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
