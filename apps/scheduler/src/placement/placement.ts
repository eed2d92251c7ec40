import { isPulledImage } from '../images/image-reference';

/**
 * Placement as pure functions: which hosts can take a workload (filters) and which of them
 * should (score). No I/O, so every rule is unit-tested; the transactional claim re-runs the
 * same filter on the locked host row before it writes.
 */

export interface ResourceAmounts {
  cpuMillis: number;
  memoryMiB: number;
  pids: number;
}

export type HostState = 'ready' | 'lost';
export type DriverName = 'docker' | 'vm';

export interface HostSnapshot {
  id: string;
  state: HostState;
  /** Drivers the host reported healthy. */
  drivers: readonly string[];
  /** Normalised image references present on the host (see `normalizeImageRef`). */
  images: readonly string[];
  capacity: ResourceAmounts;
  allocated: ResourceAmounts;
}

export interface PlacementRequest {
  driver: DriverName;
  image: string;
  resources: ResourceAmounts;
}

export type Rejection = 'not_ready' | 'driver_missing' | 'image_missing' | 'no_room';

const RESOURCE_KEYS = ['cpuMillis', 'memoryMiB', 'pids'] as const;

/**
 * Docker treats `busybox` and `busybox:latest` as the same image; agents report `repo:tag`.
 * A digest reference is kept as is.
 */
export function normalizeImageRef(ref: string): string {
  if (ref.includes('@')) return ref;
  const lastComponent = ref.slice(ref.lastIndexOf('/') + 1);
  return lastComponent.includes(':') ? ref : `${ref}:latest`;
}

export function freeResources(host: Pick<HostSnapshot, 'capacity' | 'allocated'>): ResourceAmounts {
  return {
    cpuMillis: host.capacity.cpuMillis - host.allocated.cpuMillis,
    memoryMiB: host.capacity.memoryMiB - host.allocated.memoryMiB,
    pids: host.capacity.pids - host.allocated.pids,
  };
}

/** `available` covers `request` on every resource. */
export function covers(available: ResourceAmounts, request: ResourceAmounts): boolean {
  return RESOURCE_KEYS.every((key) => available[key] >= request[key]);
}

/** Why `host` cannot take `request`, or null when it can. Checked in this order. */
export function rejectionOf(host: HostSnapshot, request: PlacementRequest): Rejection | null {
  if (host.state !== 'ready') return 'not_ready';
  if (!host.drivers.includes(request.driver)) return 'driver_missing';
  // An image that names a registry is pulled by the agent; only bare names must be on the host.
  if (!isPulledImage(request.image) && !host.images.includes(normalizeImageRef(request.image))) return 'image_missing';
  if (!covers(freeResources(host), request.resources)) return 'no_room';
  return null;
}

/**
 * Hosts that can take the request, best first. Bin-packing: the host left with the least free
 * CPU after placement wins, then the least free memory, so small hosts fill up before large
 * ones are touched and large requests still find room. Host id breaks ties, so every replica
 * ranks the same way.
 */
export function rankHosts(hosts: readonly HostSnapshot[], request: PlacementRequest): HostSnapshot[] {
  const scored = hosts
    .filter((host) => rejectionOf(host, request) === null)
    .map((host) => {
      const free = freeResources(host);
      return { host, cpuLeft: free.cpuMillis - request.resources.cpuMillis, memoryLeft: free.memoryMiB - request.resources.memoryMiB };
    });
  scored.sort((a, b) => a.cpuLeft - b.cpuLeft || a.memoryLeft - b.memoryLeft || compareIds(a.host.id, b.host.id));
  return scored.map((entry) => entry.host);
}

/** Byte order, not locale order: the tie-break must not depend on the replica's locale. */
function compareIds(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

/** A sentence a tenant can act on, naming the first filter no ready host passes. */
export function explainNoPlacement(hosts: readonly HostSnapshot[], request: PlacementRequest): string {
  const ready = hosts.filter((host) => host.state === 'ready');
  if (ready.length === 0) return 'no host is ready';
  const withDriver = ready.filter((host) => host.drivers.includes(request.driver));
  if (withDriver.length === 0) return `no ready host offers the ${request.driver} driver`;
  const image = normalizeImageRef(request.image);
  if (!isPulledImage(request.image) && !withDriver.some((host) => host.images.includes(image))) return `no ready host has image ${request.image}`;
  return `no ready host has room for ${describeResources(request.resources)}`;
}

/** `500m CPU, 64 MiB, 64 pids` */
export function describeResources(resources: ResourceAmounts): string {
  return `${resources.cpuMillis}m CPU, ${resources.memoryMiB} MiB, ${resources.pids} pids`;
}

/**
 * The biggest host by capacity (CPU, then memory, then pids), to tell a tenant what the
 * fleet can hold at most. Null for an empty fleet.
 */
export function largestHost<H extends Pick<HostSnapshot, 'id' | 'capacity'>>(hosts: readonly H[]): H | null {
  let best: H | null = null;
  for (const host of hosts) {
    if (
      best === null ||
      host.capacity.cpuMillis > best.capacity.cpuMillis ||
      (host.capacity.cpuMillis === best.capacity.cpuMillis && host.capacity.memoryMiB > best.capacity.memoryMiB) ||
      (host.capacity.cpuMillis === best.capacity.cpuMillis &&
        host.capacity.memoryMiB === best.capacity.memoryMiB &&
        host.capacity.pids > best.capacity.pids)
    ) {
      best = host;
    }
  }
  return best;
}
