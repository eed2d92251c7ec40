import type { EntityManager } from 'typeorm';
import { queryRows, SCHEMA } from '../database/sql';
import { isPulledImage } from '../images/image-reference';
import { normalizeImageRef, rankHosts, type HostSnapshot, type PlacementRequest, type PlacementSettings } from './placement';

type HostIndexRow = Omit<HostSnapshot, 'images' | 'capacity' | 'allocated'> & {
  capacity_cpu_millis: number;
  capacity_memory_mib: number;
  capacity_pids: number;
  allocated_cpu_millis: number;
  allocated_memory_mib: number;
  allocated_pids: number;
};

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
 */
export class HostIndex {
  private hosts: HostSnapshot[] = [];
  private readonly byId = new Map<string, HostSnapshot>();
  private loadedAt = -Infinity;
  private loading: Promise<void> | null = null;
  private readonly imageHosts = new Map<string, { loadedAt: number; hosts: Promise<ReadonlySet<string>> }>();

  constructor(
    /** How old the picture may get; 0 turns the index off. */
    private readonly refreshMs: number,
  ) {}

  get enabled(): boolean {
    return this.refreshMs > 0;
  }

  /** The best `limit` hosts for `request` by the pure filters and scores on this picture; empty when the index is off or nothing fits in it. */
  async candidates(manager: EntityManager, request: PlacementRequest, settings: PlacementSettings, limit: number): Promise<HostSnapshot[]> {
    if (!this.enabled || request.affinityGroup || request.antiAffinityGroup) return [];
    await this.refreshIfOld(manager);
    const image = normalizeImageRef(request.image);
    const withImage = isPulledImage(request.image) ? null : await this.hostsWithImage(manager, image);
    // The filters ask only "has it this image?": each snapshot carries just that one.
    const views = this.hosts.map((host) => ({ ...host, images: withImage === null || withImage.has(host.id) ? [image] : [] }));
    return rankHosts(views, request, settings, false).slice(0, limit);
  }

  /** This replica claimed on `hostId`: count it now rather than at the next refresh. */
  claimed(hostId: string, resources: HostSnapshot['allocated']): void {
    const host = this.byId.get(hostId);
    if (!host) return;
    host.allocated = {
      cpuMillis: host.allocated.cpuMillis + resources.cpuMillis,
      memoryMiB: host.allocated.memoryMiB + resources.memoryMiB,
      pids: host.allocated.pids + resources.pids,
    };
  }

  /** The picture of `hostId` was wrong (the lock showed otherwise): reload everything at the next use. */
  invalidate(): void {
    this.loadedAt = -Infinity;
  }

  /**
   * Reads go through the caller's `manager`: a create holds a pooled connection for its
   * transaction, and waiting for a second one while holding it can starve the pool.
   */
  private async refreshIfOld(manager: EntityManager): Promise<void> {
    if (performance.now() - this.loadedAt < this.refreshMs) return;
    this.loading ??= this.load(manager).finally(() => {
      this.loading = null;
    });
    await this.loading;
  }

  private async load(manager: EntityManager): Promise<void> {
    const startedAt = performance.now();
    const rows = await queryRows<HostIndexRow>(
      manager,
      `SELECT "id", "state", "drivers", "labels", "capacity_cpu_millis", "capacity_memory_mib", "capacity_pids",
              "allocated_cpu_millis", "allocated_memory_mib", "allocated_pids"
         FROM "${SCHEMA}"."hosts" WHERE "state" = 'ready'`,
    );
    this.hosts = rows.map((row) => ({
      id: row.id,
      state: row.state,
      drivers: row.drivers,
      labels: row.labels ?? {},
      images: [],
      capacity: { cpuMillis: row.capacity_cpu_millis, memoryMiB: row.capacity_memory_mib, pids: row.capacity_pids },
      allocated: { cpuMillis: row.allocated_cpu_millis, memoryMiB: row.allocated_memory_mib, pids: row.allocated_pids },
    }));
    this.byId.clear();
    for (const host of this.hosts) this.byId.set(host.id, host);
    this.loadedAt = startedAt;
  }

  private hostsWithImage(manager: EntityManager, image: string): Promise<ReadonlySet<string>> {
    const cached = this.imageHosts.get(image);
    if (cached && performance.now() - cached.loadedAt < this.refreshMs) return cached.hosts;
    const hosts = queryRows<{ id: string }>(manager, `SELECT "id" FROM "${SCHEMA}"."hosts" WHERE "images" @> ARRAY[$1::text]`, [image]).then(
      (rows) => new Set(rows.map((row) => row.id)),
    );
    // A failed lookup is not cached; nor are more than a few thousand images.
    hosts.catch(() => this.imageHosts.delete(image));
    if (this.imageHosts.size >= 4096) this.imageHosts.clear();
    this.imageHosts.set(image, { loadedAt: performance.now(), hosts });
    return hosts;
  }
}
