import type { EntityManager } from 'typeorm';
import { queryRows, SCHEMA } from '../database/sql';
import { isPulledImage } from '../images/image-reference';
import {
  covers,
  DEDICATED_LABEL,
  effectiveCapacity,
  inShard,
  maxUnit,
  normalizeImageRef,
  rankHosts,
  rejectionOf,
  scoreHost,
  type HostScore,
  type HostSnapshot,
  type PlacementRequest,
  type PlacementSettings,
  type ResourceAmounts,
} from './placement';

/**
 * A host as a read returns it, one JSON array per host: id, state, drivers, labels, capacity
 * (CPU, memory, pids), allocated (CPU, memory, pids), and which of the followed images it has.
 * One JSON value for the whole read rather than a row per host: at 10,000 hosts node-pg's
 * per-column parsing took 66–150 ms of CPU per full read, one JSON.parse 14–35 ms.
 */
export type HostTuple = [
  id: string,
  state: HostSnapshot['state'],
  drivers: string[],
  labels: Record<string, string> | null,
  capacityCpuMillis: number,
  capacityMemoryMiB: number,
  capacityPids: number,
  allocatedCpuMillis: number,
  allocatedMemoryMiB: number,
  allocatedPids: number,
  followedImages: string[],
];

/** What one read of the hosts table returned, and when and how it was asked. */
interface PictureRead {
  full: boolean;
  startedAt: number;
  /** `HostIndex.invalidations` when it began. */
  invalidations: number;
  followed: string[];
  /** The database's clock when it read. */
  at: Date;
  hosts: HostTuple[];
}

/** Rows changed this long before the previous refresh are read again (a transaction that committed late). */
const REFRESH_MARGIN_MS = 5_000;
/** Every so often the whole picture is re-read anyway: the safety net for anything the margin missed. */
export const FULL_RELOAD_MS = 30_000;
/**
 * Slack on the early stop, far above float noise (~1e-16) and above the 1e-9 rounding of
 * scores: a host is skipped only when its score is certainly below the worst one kept.
 */
const STOP_SLACK = 2e-9;

/** One host in the picture; `key` is where it sits in its class (see HostClass). */
interface Entry {
  host: HostSnapshot;
  hostClass: HostClass;
  key: number;
}

/**
 * Hosts that differ only in allocation: same drivers, labels and capacity. Every filter but
 * image and free capacity gives the same answer for all of them, and within a class the score
 * of a host that fits is a strictly increasing function of one number that does not depend on
 * the request: `key = Σ w·allocated / effective` over CPU and memory (the request adds the same
 * `Σ w·request / effective` to every member, and utilisation is not capped for a host that
 * fits). So members are kept sorted by key, and a create walks each class from the best end
 * (fullest for binpack, emptiest for spread), stopping once no remaining member can beat the
 * `limit`-th host found so far.
 */
interface HostClass {
  classKey: string;
  /** A member's drivers, labels and capacity (allocation not meaningful). */
  template: HostSnapshot;
  effective: ResourceAmounts;
  /** Sorted by key, then id. */
  members: Entry[];
}

/**
 * This replica's picture of the fleet, for ranking candidates without asking PostgreSQL to
 * score every host on every create (a sequential scan and sort per create, O(hosts)).
 *
 * It is only a hint. The picture is at most `refreshMs` old plus this replica's own claims;
 * another replica's claims, releases and heartbeats show up at the next refresh. A stale
 * picture can only make the choice worse, never wrong: every claim still locks the host row
 * and re-checks every filter on it (`claimBestHost`), and when the hinted candidates all fail
 * there, the caller falls back to ranking in SQL. Group requests do not use it (membership is
 * per tenant and not cached).
 *
 * On the picture it returns exactly what `rankHosts(…).slice(0, limit)` returns (proved by
 * `host-index.property.spec.ts`), without looking at every host: see HostClass. With a
 * replica's shard (`PlacementSettings.shard`) the walk runs over the shard's hosts first and
 * over the rest only for what is still missing. A refresh
 * reads only rows whose `updated_at` moved since the previous one (every write of a column
 * read here bumps it), with a margin for transactions that committed late, and the whole
 * picture at the first use and after `invalidate()` (the caller waits: the picture is unknown
 * or known wrong) and every `FULL_RELOAD_MS` (in the background: see `reloadInBackgroundIfDue`).
 */
export class HostIndex {
  private readonly byId = new Map<string, Entry>();
  private readonly classes = new Map<string, HostClass>();
  /** The settings keys and classes were computed for. */
  private settingsKey = '';
  private settings: PlacementSettings | null = null;
  private loadedAt = -Infinity;
  private fullyLoadedAt = -Infinity;
  /** The database's clock at the previous refresh. */
  private databaseTime: Date | null = null;
  private loading: Promise<void> | null = null;
  /** Calls of `invalidate()` so far: a read that began before the last one does not count as fresh. */
  private invalidations = 0;
  /** The periodic full read, running beside the creates, and what it read once back. */
  private reloading: Promise<void> | null = null;
  private reloaded: PictureRead | null = null;
  /**
   * Which hosts have an image, per image a create asked for: one GIN-indexed read the first
   * time, then kept current by every refresh (each row read says which of these images it has).
   */
  private readonly imageHosts = new Map<string, Set<string>>();
  private readonly imageLoads = new Map<string, Promise<ReadonlySet<string>>>();
  private readonly now: () => number;
  private readonly onReloadError: (error: unknown) => void;

  constructor(
    /** How old the picture may get; 0 turns the index off. */
    private readonly refreshMs: number,
    options: { now?: () => number; onReloadError?: (error: unknown) => void } = {},
  ) {
    this.now = options.now ?? (() => performance.now());
    this.onReloadError = options.onReloadError ?? (() => undefined);
  }

  get enabled(): boolean {
    return this.refreshMs > 0;
  }

  /** The best `limit` hosts for `request` by the pure filters and scores on this picture; empty when the index is off or nothing fits in it. */
  async candidates(manager: EntityManager, request: PlacementRequest, settings: PlacementSettings, limit: number): Promise<HostSnapshot[]> {
    if (!this.enabled || request.affinityGroup || request.antiAffinityGroup || limit <= 0) return [];
    await this.refreshIfOld(manager);
    const image = normalizeImageRef(request.image);
    const withImage = isPulledImage(request.image) ? null : await this.hostsWithImage(manager, image);
    // The filters ask only "has it this image?": each snapshot carries just that one.
    const view = (host: HostSnapshot): HostSnapshot => ({ ...host, images: withImage === null || withImage.has(host.id) ? [image] : [] });
    const { cpu, memory } = settings.weights;
    if (!(cpu >= 0 && memory >= 0 && cpu + memory > 0)) {
      // No usable order (every score equal, or a negative weight): rank them all.
      return rankHosts([...this.byId.values()].map((entry) => view(entry.host)), request, settings, false).slice(0, limit);
    }
    this.useSettings(settings);
    if (!settings.shard || settings.shard.count <= 1) return this.walk(request, settings, limit, image, withImage, view, null);
    // The shard first (rankHosts puts every host of it before every other), then the rest.
    const shard = settings.shard;
    const inside = this.walk(request, settings, limit, image, withImage, view, (id) => inShard(id, shard));
    if (inside.length >= limit) return inside;
    return [...inside, ...this.walk(request, settings, limit - inside.length, image, withImage, view, (id) => !inShard(id, shard))];
  }

  /** The best `limit` hosts of the classes' walk, of those `keep` accepts (null: all). */
  private walk(
    request: PlacementRequest,
    settings: PlacementSettings,
    limit: number,
    image: string,
    withImage: ReadonlySet<string> | null,
    view: (host: HostSnapshot) => HostSnapshot,
    keep: ((hostId: string) => boolean) | null,
  ): HostSnapshot[] {
    const binpack = (request.policy ?? settings.policy) === 'binpack';
    // One walk covers one part of a shard's split (`keep`), so the order inside it is score and id alone.
    const scoring = settings.shard ? { ...settings, shard: null } : settings;
    const best: Array<{ host: HostSnapshot; score: HostScore }> = [];
    const zero = { cpuMillis: 0, memoryMiB: 0, pids: 0 };
    for (const hostClass of this.classes.values()) {
      // What holds for an empty member with the image holds for every member.
      const classRejection = rejectionOf({ ...hostClass.template, images: [image], allocated: zero }, request, settings, false);
      if (classRejection && (classRejection.filter !== 'capacity' || !covers(maxUnit(hostClass.template.capacity, settings), request.resources))) continue;
      const members = hostClass.members;
      // Walk runs of members with the same allocation (same score, same answer from every
      // filter but image), best run first: from the high end for binpack, the low end for spread.
      let i = binpack ? members.length - 1 : 0;
      while (i >= 0 && i < members.length) {
        const [start, end] = runAround(members, i);
        i = binpack ? start - 1 : end;
        const first = members[start]!;
        if (best.length >= limit && this.bound(first, hostClass, request, settings, binpack) + STOP_SLACK < best[best.length - 1]!.score.score) break;
        const withImageView = { ...first.host, images: [image] };
        if (rejectionOf(withImageView, request, settings, false) !== null) continue;
        const score = scoreHost(withImageView, request, scoring);
        // Members of a run differ only by id (ascending) and image: the first ones with the image win.
        for (let j = start; j < end; j += 1) {
          const host = members[j]!.host;
          if ((withImage !== null && !withImage.has(host.id)) || (keep !== null && !keep(host.id))) continue;
          if (best.length >= limit) {
            const worst = best[best.length - 1]!.score;
            if (!(score.score > worst.score || (score.score === worst.score && host.id < worst.hostId))) break;
          }
          insertBest(best, { host: view(host), score: { ...score, hostId: host.id } }, limit);
        }
      }
    }
    return best.map((entry) => entry.host);
  }

  /** This replica claimed on `hostId`: count it now rather than at the next refresh. */
  /**
   * The tenants some host of the picture (the ready hosts) is dedicated to, reading the fleet
   * again first if the picture is old; empty when the index is off. A host's class carries its
   * labels, so this is one pass over the classes, not over the hosts.
   */
  async dedicatedTenants(manager: EntityManager): Promise<ReadonlySet<string>> {
    const tenants = new Set<string>();
    if (!this.enabled) return tenants;
    await this.refreshIfOld(manager);
    for (const hostClass of this.classes.values()) {
      const tenant = hostClass.template.labels[DEDICATED_LABEL];
      if (tenant !== undefined) tenants.add(tenant);
    }
    return tenants;
  }

  claimed(hostId: string, resources: HostSnapshot['allocated']): void {
    const entry = this.byId.get(hostId);
    if (!entry) return;
    const allocated = entry.host.allocated;
    this.put({
      ...entry.host,
      allocated: {
        cpuMillis: allocated.cpuMillis + resources.cpuMillis,
        memoryMiB: allocated.memoryMiB + resources.memoryMiB,
        pids: allocated.pids + resources.pids,
      },
    });
  }

  /** The picture of `hostId` was wrong (the lock showed otherwise): reload everything at the next use. */
  invalidate(): void {
    this.invalidations += 1;
    this.loadedAt = -Infinity;
    this.fullyLoadedAt = -Infinity;
  }

  /** Hosts in the picture (ready ones), for tests and diagnostics. */
  get size(): number {
    return this.byId.size;
  }

  /** Upper bound of the score of every member after `entry` in walking order that fits the request. */
  private bound(entry: Entry, hostClass: HostClass, request: PlacementRequest, settings: PlacementSettings, binpack: boolean): number {
    const { cpu, memory } = settings.weights;
    const use = (allocated: number, requested: number, total: number) => (total <= 0 ? 1 : (allocated + requested) / total);
    const fullness =
      (cpu * use(entry.host.allocated.cpuMillis, request.resources.cpuMillis, hostClass.effective.cpuMillis) +
        memory * use(entry.host.allocated.memoryMiB, request.resources.memoryMiB, hostClass.effective.memoryMiB)) /
      (cpu + memory);
    return binpack ? fullness : 1 - fullness;
  }

  /** Recomputes classes and keys when the settings that shape them change (configuration: practically never). */
  private useSettings(settings: PlacementSettings): void {
    const key = JSON.stringify([settings.allocationRatios, settings.reserved, settings.weights]);
    if (key === this.settingsKey) return;
    this.settingsKey = key;
    this.settings = settings;
    const hosts = [...this.byId.values()].map((entry) => entry.host);
    this.byId.clear();
    this.classes.clear();
    for (const host of hosts) this.put(host);
  }

  /** Adds or replaces a host in the picture. */
  private put(host: HostSnapshot): void {
    this.remove(host.id);
    const classKey = JSON.stringify([host.drivers, Object.entries(host.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)), host.capacity]);
    let hostClass = this.classes.get(classKey);
    if (!hostClass) {
      hostClass = { classKey, template: host, effective: effectiveCapacity(host.capacity, this.settings ?? ZERO_SETTINGS), members: [] };
      this.classes.set(classKey, hostClass);
    }
    const entry: Entry = { host, hostClass, key: this.keyOf(host, hostClass) };
    hostClass.members.splice(position(hostClass.members, entry), 0, entry);
    this.byId.set(host.id, entry);
  }

  private remove(hostId: string): void {
    const entry = this.byId.get(hostId);
    if (!entry) return;
    this.byId.delete(hostId);
    const members = entry.hostClass.members;
    const at = position(members, entry);
    members.splice(members[at] === entry ? at : members.indexOf(entry), 1);
    if (members.length === 0) this.classes.delete(entry.hostClass.classKey);
  }

  private keyOf(host: HostSnapshot, hostClass: HostClass): number {
    const weights = this.settings?.weights ?? { cpu: 0, memory: 0 };
    const share = (allocated: number, total: number) => (total > 0 ? allocated / total : 0);
    return weights.cpu * share(host.allocated.cpuMillis, hostClass.effective.cpuMillis) + weights.memory * share(host.allocated.memoryMiB, hostClass.effective.memoryMiB);
  }

  /**
   * Reads go through the caller's `manager`: a create holds a pooled connection for its
   * transaction, and waiting for a second one while holding it can starve the pool.
   */
  private async refreshIfOld(manager: EntityManager): Promise<void> {
    // A full read that came back in the background: taken now, between two answers, and the
    // rows changed since it read are read before the next answer.
    if (this.reloaded && !this.loading) {
      const read = this.reloaded;
      this.reloaded = null;
      this.apply(read);
      this.loadedAt = -Infinity;
    }
    if (this.now() - this.loadedAt >= this.refreshMs) {
      // Never read, or invalidated: the whole picture, waited for.
      const full = this.databaseTime === null || this.fullyLoadedAt === -Infinity;
      this.loading ??= this.read(manager, full)
        .then((read) => this.apply(read))
        .finally(() => {
          this.loading = null;
        });
      await this.loading;
    }
    this.reloadInBackgroundIfDue(manager);
  }

  /**
   * The periodic full read is only the safety net for what a refresh's margin missed, so
   * nobody waits for it: it reads through a pooled connection of its own (the caller's may
   * be gone before it ends) while creates go on ranking on the picture, which the refreshes
   * keep current meanwhile. Its rows replace the picture at the next use (`refreshIfOld`),
   * which then reads the rows changed since (its clock less the margin) before it answers, so
   * nothing written while it ran is lost and no answer comes from an older picture than the
   * one before. In bench:scheduler at 10,000 hosts, the full read in front of the creates
   * stalled them every 30 s (p99 of that second 100–330 ms, ~35 ms in the seconds around it).
   */
  private reloadInBackgroundIfDue(manager: EntityManager): void {
    if (this.reloading || this.reloaded || this.loading || this.now() - this.fullyLoadedAt < FULL_RELOAD_MS) return;
    const started = this.now();
    this.reloading = this.read(manager.connection.manager, true)
      .then(
        (read) => {
          this.reloaded = read;
        },
        (error: unknown) => {
          // Tried again a period later (unless invalidated meanwhile); the refreshes go on.
          if (this.fullyLoadedAt !== -Infinity) this.fullyLoadedAt = started;
          this.onReloadError(error);
        },
      )
      .finally(() => {
        this.reloading = null;
      });
  }

  /** The whole picture (`full`: every ready host) or the rows changed since the previous read, less the margin. */
  private async read(manager: EntityManager, full: boolean): Promise<PictureRead> {
    const startedAt = this.now();
    const invalidations = this.invalidations;
    const since = full ? null : new Date(this.databaseTime!.getTime() - REFRESH_MARGIN_MS);
    // One row: the database's clock and the hosts (HostTuple). Of the images followed, each
    // host names those it has (not its whole list).
    const followed = [...this.imageHosts.keys()];
    const [read] = await queryRows<{ at: Date; hosts: HostTuple[] }>(
      manager,
      `SELECT now() AS "at",
              (SELECT coalesce(json_agg(json_build_array(h."id", h."state", h."drivers", h."labels",
                        h."capacity_cpu_millis", h."capacity_memory_mib", h."capacity_pids",
                        h."allocated_cpu_millis", h."allocated_memory_mib", h."allocated_pids",
                        ARRAY(SELECT "image" FROM unnest($1::text[]) AS "image" WHERE "image" = ANY(h."images")))), '[]')
                 FROM "${SCHEMA}"."hosts" h WHERE ${full ? `h."state" = 'ready'` : `h."updated_at" > $2`}) AS "hosts"`,
      full ? [followed] : [followed, since],
    );
    if (!read) throw new Error('host index: the read returned no row');
    return { full, startedAt, invalidations, followed, at: read.at, hosts: read.hosts };
  }

  /**
   * A full read replaces the picture: hosts it did not return leave, and a host it returned as
   * the picture has it already keeps its place (most of them, most of the time: re-inserting
   * 10,000 hosts cost ~20 ms of CPU per full read); a refresh changes the hosts it returned.
   */
  private apply({ full, startedAt, invalidations, followed, at, hosts }: PictureRead): void {
    const seen = full ? new Set<string>() : null;
    if (full) {
      // Sets follow only hosts read from now on; an image first asked for during this read is re-read.
      for (const image of this.imageHosts.keys()) if (!followed.includes(image)) this.imageHosts.delete(image);
      for (const set of this.imageHosts.values()) set.clear();
    }
    for (const [id, state, drivers, labels, capacityCpuMillis, capacityMemoryMiB, capacityPids, allocatedCpuMillis, allocatedMemoryMiB, allocatedPids, followedImages] of hosts) {
      this.noteImages(id, followed, followedImages);
      if (state !== 'ready') {
        this.remove(id);
        continue;
      }
      seen?.add(id);
      const host: HostSnapshot = {
        id,
        state,
        drivers,
        labels: labels ?? {},
        images: [],
        capacity: { cpuMillis: capacityCpuMillis, memoryMiB: capacityMemoryMiB, pids: capacityPids },
        allocated: { cpuMillis: allocatedCpuMillis, memoryMiB: allocatedMemoryMiB, pids: allocatedPids },
      };
      const entry = this.byId.get(id);
      if (!entry || !sameHost(entry.host, host)) this.put(host);
    }
    if (seen) for (const id of [...this.byId.keys()]) if (!seen.has(id)) this.remove(id);
    this.databaseTime = at;
    // Invalidated while this read ran: what it read may predate what showed the picture wrong.
    if (this.invalidations !== invalidations) return;
    this.loadedAt = startedAt;
    if (full) this.fullyLoadedAt = startedAt;
  }

  private async hostsWithImage(manager: EntityManager, image: string): Promise<ReadonlySet<string>> {
    const cached = this.imageHosts.get(image);
    if (cached) return cached;
    let loading = this.imageLoads.get(image);
    if (!loading) {
      loading = queryRows<{ id: string }>(manager, `SELECT "id" FROM "${SCHEMA}"."hosts" WHERE "images" @> ARRAY[$1::text]`, [image])
        .then((rows) => {
          // Not more than a few thousand images are followed.
          if (this.imageHosts.size >= 4096) this.imageHosts.clear();
          const hosts = new Set(rows.map((row) => row.id));
          this.imageHosts.set(image, hosts);
          return hosts;
        })
        .finally(() => this.imageLoads.delete(image));
      this.imageLoads.set(image, loading);
    }
    return loading;
  }

  /** A refresh asked about `followed` images and read that `hostId` has `images` of them. */
  private noteImages(hostId: string, followed: readonly string[], images: readonly string[] | null): void {
    for (const image of followed) {
      const hosts = this.imageHosts.get(image);
      if (!hosts) continue;
      if (images?.includes(image)) hosts.add(hostId);
      else hosts.delete(hostId);
    }
  }
}

/** Same drivers, labels, capacity and allocation (what the picture keeps of a ready host). */
function sameHost(a: HostSnapshot, b: HostSnapshot): boolean {
  const same = (x: ResourceAmounts, y: ResourceAmounts) => x.cpuMillis === y.cpuMillis && x.memoryMiB === y.memoryMiB && x.pids === y.pids;
  if (!same(a.capacity, b.capacity) || !same(a.allocated, b.allocated)) return false;
  if (a.drivers.length !== b.drivers.length || a.drivers.some((driver, i) => driver !== b.drivers[i])) return false;
  const labels = Object.keys(a.labels);
  return labels.length === Object.keys(b.labels).length && labels.every((key) => Object.hasOwn(b.labels, key) && a.labels[key] === b.labels[key]);
}

/** Before the first create names its settings (keys are recomputed then). */
const ZERO_SETTINGS: PlacementSettings = {
  allocationRatios: { cpuMillis: 1, memoryMiB: 1, pids: 1 },
  reserved: { cpuMillis: 0, memoryMiB: 0, pids: 0 },
  policy: 'binpack',
  weights: { cpu: 0, memory: 0 },
};

/** Members are sorted by key, then allocation (CPU, memory, pids), then id. */
function compareRun(member: Entry, key: number, allocated: ResourceAmounts): number {
  const a = member.host.allocated;
  return member.key - key || a.cpuMillis - allocated.cpuMillis || a.memoryMiB - allocated.memoryMiB || a.pids - allocated.pids;
}

/** Where `entry` goes in (or is found in) sorted members. */
function position(members: readonly Entry[], entry: Pick<Entry, 'key' | 'host'>): number {
  let low = 0;
  let high = members.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const member = members[middle]!;
    const order = compareRun(member, entry.key, entry.host.allocated);
    if (order < 0 || (order === 0 && member.host.id < entry.host.id)) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** [start, end) of the run of members with the same key and allocation as `members[at]`. */
function runAround(members: readonly Entry[], at: number): [number, number] {
  const { key, host } = members[at]!;
  const bound = (after: boolean) => {
    let low = 0;
    let high = members.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const order = compareRun(members[middle]!, key, host.allocated);
      if (order < 0 || (after && order === 0)) low = middle + 1;
      else high = middle;
    }
    return low;
  };
  return [bound(false), bound(true)];
}

/** Keeps `best` sorted as rankHosts orders (score, then id in byte order) and at most `limit` long. */
function insertBest(best: Array<{ host: HostSnapshot; score: HostScore }>, entry: { host: HostSnapshot; score: HostScore }, limit: number): void {
  const before = (a: { score: HostScore }, b: { score: HostScore }) => a.score.score > b.score.score || (a.score.score === b.score.score && a.score.hostId < b.score.hostId);
  let at = best.length;
  while (at > 0 && before(entry, best[at - 1]!)) at -= 1;
  if (at >= limit) return;
  best.splice(at, 0, entry);
  if (best.length > limit) best.pop();
}
