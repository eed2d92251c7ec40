import type { EntityManager } from 'typeorm';
import { CANDIDATES_PER_MEMBER } from './batch-claims';
import type { HostIndex } from './host-index';
import { normalizeImageRef, rankHosts, type HostSnapshot, type PlacementRequest, type PlacementSettings } from './placement';

/** One request shape's ranking on the index: best first, at most `limit` hosts. */
interface RankedList {
  image: string;
  limit: number;
  hosts: HostSnapshot[];
  byId: Map<string, HostSnapshot>;
  /** The batch that last checked it still holds enough untouched hosts. */
  batch: number;
}

/** Ranks for a tenant that no host is dedicated to: such tenants all see the same hosts pass. */
const NO_TENANT = '00000000-0000-0000-0000-000000000000';

/**
 * Ranks the members of batches on the host index with one full ranking per request shape,
 * not per member (and, for up to the index's refresh period, not per batch), with the same
 * answer as ranking every member alone on the index's picture with the earlier members'
 * claims added.
 *
 * Why that is the same answer: the index ranks a shape's hosts once (`limit` = the members'
 * candidates plus every host the batch can touch). A later member's picture differs from that
 * one only on hosts the batch already claimed on ("touched"); untouched hosts keep their
 * scores and order, so the best untouched ones are the first untouched entries of the list,
 * and the list is long enough that there are always `CANDIDATES_PER_MEMBER` of them. The
 * touched hosts are re-scored with the batch's claims. Ranking that union with the pure
 * `rankHosts` gives the member's exact top candidates. (A list only says whether a host has
 * its own image; a list of another image that lacks a newly touched host is ranked again.)
 *
 * Tenants differ only through dedicated hosts: a tenant none of the hosts is dedicated to sees
 * exactly what any other such tenant sees (hosts dedicated to someone are excluded for both),
 * so they share a shape; tenants with dedicated hosts, and `dedicated` requests, rank alone.
 */
export class BatchRanker {
  private readonly lists = new Map<string, RankedList>();
  /** Hosts this ranker's members claimed on (first choice), with those claims added; `images` as ranked for `image`. */
  private readonly touched = new Map<string, { image: string; host: HostSnapshot }>();
  private startedAt = -Infinity;
  private manager: EntityManager | null = null;
  private dedicatedTenants: ReadonlySet<string> = new Set();
  private members = 0;
  private batch = 0;

  constructor(
    private readonly index: HostIndex,
    private readonly settings: PlacementSettings,
    /**
     * How long the rankings may be reused across batches (with this replica's claims applied):
     * the host index's own refresh period, so the hint is never older than the index allows.
     */
    private readonly maxAgeMs: number,
  ) {}

  /**
   * Before each batch: `members` bounds how many hosts it may touch; lists are read through
   * `manager`. Rankings older than `maxAgeMs`, or made when other tenants had dedicated
   * hosts, are dropped.
   */
  begin(manager: EntityManager, dedicatedTenants: ReadonlySet<string>, members: number): void {
    this.manager = manager;
    this.members = members;
    this.batch += 1;
    const sameDedication = dedicatedTenants.size === this.dedicatedTenants.size && [...dedicatedTenants].every((tenant) => this.dedicatedTenants.has(tenant));
    if (performance.now() - this.startedAt >= this.maxAgeMs || !sameDedication) this.reset();
    this.dedicatedTenants = dedicatedTenants;
  }

  /** Forget every ranking (the picture was wrong somewhere): the next member ranks afresh on the index. */
  reset(): void {
    this.lists.clear();
    this.touched.clear();
    this.startedAt = performance.now();
  }

  /** A member counted on `hostId` by `rank` took nothing there after all (refused, replayed, or settled alone). */
  release(hostId: string, resources: HostSnapshot['allocated']): void {
    const entry = this.touched.get(hostId);
    if (!entry) return;
    const { allocated } = entry.host;
    entry.host = { ...entry.host, allocated: { cpuMillis: allocated.cpuMillis - resources.cpuMillis, memoryMiB: allocated.memoryMiB - resources.memoryMiB, pids: allocated.pids - resources.pids } };
  }

  /** The member's best candidates, best first (empty: no room in the picture), and counts its claim on the first. */
  async rank(request: PlacementRequest): Promise<HostSnapshot[]> {
    const image = normalizeImageRef(request.image);
    const list = await this.listFor(request, image);
    // The best untouched hosts are the first untouched entries of the list (their scores and
    // order have not changed): only those, and the touched hosts, can make the top candidates.
    const pool: HostSnapshot[] = [];
    for (const [id, entry] of this.touched) {
      const listed = list.byId.get(id);
      // The list's snapshot knows whether the host has this image; the batch knows its allocation.
      if (listed) pool.push({ ...listed, allocated: entry.host.allocated });
      else if (entry.image === image) pool.push(entry.host);
    }
    let untouched = 0;
    for (const host of list.hosts) {
      if (untouched >= CANDIDATES_PER_MEMBER) break;
      if (this.touched.has(host.id)) continue;
      pool.push(host);
      untouched += 1;
    }
    const ranked = rankHosts(pool, request, this.settings, false).slice(0, CANDIDATES_PER_MEMBER);
    const first = ranked[0];
    if (first) {
      const { cpuMillis, memoryMiB, pids } = request.resources;
      this.touched.set(first.id, {
        image,
        host: { ...first, allocated: { cpuMillis: first.allocated.cpuMillis + cpuMillis, memoryMiB: first.allocated.memoryMiB + memoryMiB, pids: first.allocated.pids + pids } },
      });
      this.index.claimed(first.id, request.resources);
      // A list of another image that lacks this host cannot tell whether the host (fuller now,
      // so maybe better ranked) has that image: such lists are ranked again when next used.
      for (const [key, other] of this.lists) if (other.image !== image && !other.byId.has(first.id)) this.lists.delete(key);
    }
    return ranked;
  }

  private async listFor(request: PlacementRequest, image: string): Promise<RankedList> {
    const alone = request.dedicated === true || this.dedicatedTenants.has(request.tenantId);
    const representative: PlacementRequest = alone ? request : { ...request, tenantId: NO_TENANT };
    const key = JSON.stringify([
      alone ? request.tenantId : null,
      request.dedicated ?? false,
      request.driver,
      image,
      request.resources,
      request.constraints ?? [],
      request.policy ?? null,
    ]);
    let list = this.lists.get(key);
    // Once per batch: a truncated list must keep CANDIDATES_PER_MEMBER untouched hosts however
    // many hosts this batch touches, or it no longer holds the best untouched ones: rank again.
    if (list && list.batch !== this.batch) {
      const untouched = list.hosts.filter((host) => !this.touched.has(host.id)).length;
      if (list.hosts.length >= list.limit && untouched < CANDIDATES_PER_MEMBER + this.members) list = undefined;
      else list.batch = this.batch;
    }
    if (!list) {
      if (!this.manager) throw new Error('BatchRanker.begin was not called');
      // Copies: the index's own picture moves on (claims counted as they are made).
      const limit = CANDIDATES_PER_MEMBER + this.members + this.touched.size;
      const hosts = await this.index.candidates(this.manager, representative, this.settings, limit);
      const copies = hosts.map((host) => ({ ...host }));
      list = { image, limit, hosts: copies, byId: new Map(copies.map((host) => [host.id, host])), batch: this.batch };
      this.lists.set(key, list);
    }
    return list;
  }
}
