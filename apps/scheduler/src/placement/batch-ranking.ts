import type { EntityManager } from 'typeorm';
import { CANDIDATES_PER_MEMBER } from './batch-claims';
import type { HostIndex } from './host-index';
import { normalizeImageRef, rankHosts, type HostSnapshot, type PlacementRequest, type PlacementSettings } from './placement';

/** Ranks for a tenant that no host is dedicated to: such tenants all see the same hosts pass. */
const NO_TENANT = '00000000-0000-0000-0000-000000000000';

/**
 * Ranks the members of one batch on the host index with one full ranking per request shape,
 * not per member, and the same answer as ranking every member alone on the picture with the
 * earlier members' claims added.
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
  private readonly lists = new Map<string, { image: string; hosts: HostSnapshot[] }>();
  /** Hosts a member of this batch claimed on (first choice), with those claims added; `images` as ranked for `image`. */
  private readonly touched = new Map<string, { image: string; host: HostSnapshot }>();

  constructor(
    private readonly index: HostIndex,
    private readonly manager: EntityManager,
    private readonly settings: PlacementSettings,
    /** Tenants some host is dedicated to (label `gureum.io/dedicated`). */
    private readonly dedicatedTenants: ReadonlySet<string>,
    /** How many members the batch ranks at most (bounds the touched hosts). */
    private readonly members: number,
  ) {}

  /** The member's best candidates, best first (empty: no room in the picture), and counts its claim on the first. */
  async rank(request: PlacementRequest): Promise<HostSnapshot[]> {
    const image = normalizeImageRef(request.image);
    const list = await this.listFor(request, image);
    const pool = new Map<string, HostSnapshot>();
    for (const host of list.hosts) {
      const touched = this.touched.get(host.id);
      // The list's snapshot knows whether the host has this image; the batch knows its allocation.
      pool.set(host.id, touched ? { ...host, allocated: touched.host.allocated } : host);
    }
    for (const [id, entry] of this.touched) if (entry.image === image && !pool.has(id)) pool.set(id, entry.host);
    const ranked = rankHosts([...pool.values()], request, this.settings, false).slice(0, CANDIDATES_PER_MEMBER);
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
      for (const [key, other] of this.lists) if (other.image !== image && !other.hosts.some((host) => host.id === first.id)) this.lists.delete(key);
    }
    return ranked;
  }

  private async listFor(request: PlacementRequest, image: string): Promise<{ image: string; hosts: HostSnapshot[] }> {
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
    if (!list) {
      // Copies: the index's own picture moves on (claims counted as they are made).
      const hosts = await this.index.candidates(this.manager, representative, this.settings, CANDIDATES_PER_MEMBER + this.members);
      list = { image, hosts: hosts.map((host) => ({ ...host })) };
      this.lists.set(key, list);
    }
    return list;
  }
}
