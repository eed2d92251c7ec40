import { isPulledImage } from '../images/image-reference';

/**
 * Placement as pure functions: which hosts can take a workload (filters) and which of them
 * should (scores). No I/O, so every rule is unit- and property-tested; the transactional claim
 * re-runs the same filters on the locked host row before it writes.
 */

export interface ResourceAmounts {
  cpuMillis: number;
  memoryMiB: number;
  pids: number;
}

/** Every host state; only `ready` hosts take new workloads. */
export type HostState = 'ready' | 'cordoned' | 'draining' | 'maintenance' | 'unreachable' | 'lost' | 'decommissioned';
export type DriverName = 'docker' | 'vm';
export type ScoringPolicy = 'binpack' | 'spread';

/** The host label that dedicates a host to one tenant: `gureum.io/dedicated=<tenantId>`. */
export const DEDICATED_LABEL = 'gureum.io/dedicated';

export interface HostSnapshot {
  id: string;
  state: HostState;
  /** Drivers the host reported healthy. */
  drivers: readonly string[];
  /** Labels the agent reports (`zone=a`, `disk=ssd`, `gureum.io/dedicated=<tenant>`). */
  labels: Readonly<Record<string, string>>;
  /** Normalised image references present on the host (see `normalizeImageRef`). */
  images: readonly string[];
  /** Raw capacity as the agent reports it, before reservations and allocation ratios. */
  capacity: ResourceAmounts;
  allocated: ResourceAmounts;
  /** Affinity groups of the requesting tenant with a live member on this host. */
  affinityGroups?: readonly string[];
  /** Anti-affinity groups of the requesting tenant with a live member on this host. */
  antiAffinityGroups?: readonly string[];
}

export interface PlacementRequest {
  tenantId: string;
  driver: DriverName;
  image: string;
  resources: ResourceAmounts;
  constraints?: readonly string[];
  affinityGroup?: string | null;
  antiAffinityGroup?: string | null;
  policy?: ScoringPolicy | null;
  dedicated?: boolean;
}

/** Cluster-wide placement settings (scheduler configuration). */
export interface PlacementSettings {
  /** Effective capacity = (capacity − reserved) × ratio; CPU may be overcommitted (e.g. 4.0). */
  allocationRatios: ResourceAmounts;
  /** Kept back on every host for the OS and the agent. */
  reserved: ResourceAmounts;
  policy: ScoringPolicy;
  /** Weights of CPU and memory in the score; pids are not scored. */
  weights: { cpu: number; memory: number };
  /**
   * This replica's share of the fleet (`GUREUM_PLACEMENT_SHARD`), ranked before every other
   * host; null or absent: no preference. See `inShard`.
   */
  shard?: PlacementShard | null;
}

/**
 * Replica `index` of `count` (0-based). Replicas rank on the same picture, so without a
 * preference they all choose the same best hosts, and their batches wait for each other's
 * host locks (bench:scheduler, 2 replicas at 128 in flight: 2,663 and 2,731/s, p99 130 and
 * 123 ms, against 3,495 and 3,598/s, p99 77 and 75 ms, with a shard each; docs/scheduler.md).
 * A preference, not a partition: a host outside the shard is chosen when none inside it takes
 * the request, and the lock still decides.
 */
export interface PlacementShard {
  index: number;
  count: number;
}

/**
 * Whether `hostId` is in `shard`: FNV-1a (32 bits) of the id's UTF-16 code units, modulo the
 * count. Every replica computes the same split, whatever its platform.
 */
export function inShard(hostId: string, shard: PlacementShard | null | undefined): boolean {
  if (!shard || shard.count <= 1) return false;
  let hash = 0x811c9dc5;
  for (let i = 0; i < hostId.length; i += 1) hash = Math.imul(hash ^ hostId.charCodeAt(i), 0x01000193) >>> 0;
  return hash % shard.count === shard.index;
}

export const DEFAULT_PLACEMENT_SETTINGS: PlacementSettings = {
  allocationRatios: { cpuMillis: 4, memoryMiB: 1, pids: 1 },
  reserved: { cpuMillis: 0, memoryMiB: 0, pids: 0 },
  policy: 'binpack',
  weights: { cpu: 1, memory: 1 },
};

/** The filters, in the order they run; a host is reported under the first one it fails. */
export const FILTERS = ['host_state', 'driver', 'image', 'dedicated', 'constraints', 'anti_affinity', 'affinity', 'capacity'] as const;
export type FilterName = (typeof FILTERS)[number];

export interface Rejection {
  filter: FilterName;
  detail: string;
}

const RESOURCE_KEYS = ['cpuMillis', 'memoryMiB', 'pids'] as const;

/**
 * VM templates share the host's `images` column with Docker images, in a namespace of their
 * own: `+` never occurs in a Docker reference, so `vm-template+tiny` cannot collide with an
 * image. The vm driver reports the template references it can resolve; they are stored (and
 * asked for) with this prefix and never normalised (no implied `:latest`).
 */
export const VM_TEMPLATE_PREFIX = 'vm-template+';
export function vmTemplateKey(templateRef: string): string {
  return `${VM_TEMPLATE_PREFIX}${templateRef}`;
}

/**
 * What QEMU itself needs on top of the guest RAM (measured, see docs/vm-driver.md: the VM's
 * memory cgroup limit is RAM + 160 MiB); a VM's claim on its host includes it.
 */
export const VM_MEMORY_OVERHEAD_MIB = 160;

/**
 * Docker treats `busybox` and `busybox:latest` as the same image; agents report `repo:tag`.
 * A digest reference is kept as is.
 */
export function normalizeImageRef(ref: string): string {
  if (ref.includes('@') || ref.startsWith(VM_TEMPLATE_PREFIX)) return ref;
  const lastComponent = ref.slice(ref.lastIndexOf('/') + 1);
  return lastComponent.includes(':') ? ref : `${ref}:latest`;
}

/** What the host can hand out in total: (capacity − reserved) × ratio, floored, never negative. */
export function effectiveCapacity(capacity: ResourceAmounts, settings: Pick<PlacementSettings, 'allocationRatios' | 'reserved'>): ResourceAmounts {
  const of = (key: (typeof RESOURCE_KEYS)[number]) => Math.max(0, Math.floor((capacity[key] - settings.reserved[key]) * settings.allocationRatios[key]));
  return { cpuMillis: of('cpuMillis'), memoryMiB: of('memoryMiB'), pids: of('pids') };
}

/**
 * The most one workload may ask of a host: its capacity minus reservations, without
 * overcommit (a 4-core host never runs a 6-core workload, however high the CPU ratio).
 */
export function maxUnit(capacity: ResourceAmounts, settings: Pick<PlacementSettings, 'reserved'>): ResourceAmounts {
  const of = (key: (typeof RESOURCE_KEYS)[number]) => Math.max(0, capacity[key] - settings.reserved[key]);
  return { cpuMillis: of('cpuMillis'), memoryMiB: of('memoryMiB'), pids: of('pids') };
}

export function freeResources(host: Pick<HostSnapshot, 'capacity' | 'allocated'>, settings: PlacementSettings = DEFAULT_PLACEMENT_SETTINGS): ResourceAmounts {
  const effective = effectiveCapacity(host.capacity, settings);
  return {
    cpuMillis: effective.cpuMillis - host.allocated.cpuMillis,
    memoryMiB: effective.memoryMiB - host.allocated.memoryMiB,
    pids: effective.pids - host.allocated.pids,
  };
}

/** `available` covers `request` on every resource. */
export function covers(available: ResourceAmounts, request: ResourceAmounts): boolean {
  return RESOURCE_KEYS.every((key) => available[key] >= request[key]);
}

export interface ParsedConstraint {
  key: string;
  /** `=`: equals; `!=`: not equal (or absent); `exists` / `absent`: has / has not the label. */
  op: '=' | '!=' | 'exists' | 'absent';
  value: string | null;
}

/** `zone=a`, `zone!=a`, `gpu`, `!gpu` (the contract's regex has already checked the shape). */
export function parseConstraint(text: string): ParsedConstraint {
  const notEqual = text.indexOf('!=');
  if (notEqual > 0) return { key: text.slice(0, notEqual), op: '!=', value: text.slice(notEqual + 2) };
  const equal = text.indexOf('=');
  if (equal > 0) return { key: text.slice(0, equal), op: '=', value: text.slice(equal + 1) };
  if (text.startsWith('!')) return { key: text.slice(1), op: 'absent', value: null };
  return { key: text, op: 'exists', value: null };
}

export function labelsSatisfy(labels: Readonly<Record<string, string>>, constraint: ParsedConstraint): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, constraint.key);
  switch (constraint.op) {
    case '=':
      return has && labels[constraint.key] === constraint.value;
    case '!=':
      return !has || labels[constraint.key] !== constraint.value;
    case 'exists':
      return has;
    case 'absent':
      return !has;
  }
}

/**
 * Why `host` cannot take `request`, or null when it can. Filters run in `FILTERS` order.
 * `withAffinity`: some host already runs a member of the request's affinity group (then
 * only such hosts qualify; the first member may go anywhere).
 */
export function rejectionOf(host: HostSnapshot, request: PlacementRequest, settings: PlacementSettings = DEFAULT_PLACEMENT_SETTINGS, withAffinity = false): Rejection | null {
  if (host.state !== 'ready') return { filter: 'host_state', detail: `host is ${host.state}` };
  if (!host.drivers.includes(request.driver)) return { filter: 'driver', detail: `no healthy ${request.driver} driver` };
  // An image that names a registry is pulled by the agent; only bare names must be on the host.
  if (!isPulledImage(request.image) && !host.images.includes(normalizeImageRef(request.image))) return { filter: 'image', detail: `image ${request.image} not present` };

  const dedicatedTo = host.labels[DEDICATED_LABEL];
  if (dedicatedTo !== undefined && dedicatedTo !== request.tenantId) return { filter: 'dedicated', detail: 'dedicated to another tenant' };
  if (request.dedicated && dedicatedTo !== request.tenantId) return { filter: 'dedicated', detail: 'not dedicated to this tenant' };

  for (const text of request.constraints ?? []) {
    if (!labelsSatisfy(host.labels, parseConstraint(text))) return { filter: 'constraints', detail: `does not satisfy ${text}` };
  }
  if (request.antiAffinityGroup && (host.antiAffinityGroups ?? []).includes(request.antiAffinityGroup)) {
    return { filter: 'anti_affinity', detail: `already runs a member of anti-affinity group ${request.antiAffinityGroup}` };
  }
  if (request.affinityGroup && withAffinity && !(host.affinityGroups ?? []).includes(request.affinityGroup)) {
    return { filter: 'affinity', detail: `runs no member of affinity group ${request.affinityGroup}` };
  }
  if (!covers(maxUnit(host.capacity, settings), request.resources)) return { filter: 'capacity', detail: 'larger than the host' };
  const free = freeResources(host, settings);
  if (!covers(free, request.resources)) return { filter: 'capacity', detail: `free ${describeResources(free)}` };
  return null;
}

/** Whether some host already runs a member of the request's affinity group. */
export function affinityHostsExist(hosts: readonly HostSnapshot[], request: PlacementRequest): boolean {
  const group = request.affinityGroup;
  return !!group && hosts.some((host) => (host.affinityGroups ?? []).includes(group));
}

export interface HostScore {
  hostId: string;
  /** 0..1, higher is better under the policy. */
  score: number;
  /** In this replica's shard (`PlacementSettings.shard`): ranked before every host that is not. Absent otherwise. */
  preferred?: true;
  /** Fraction of effective CPU / memory in use after placement. */
  cpu: number;
  memory: number;
}

/**
 * Bin-pack: prefer the host that is fullest after placement (weighted over CPU and memory),
 * so hosts fill up one by one and large requests still find empty hosts. Spread: the
 * emptiest. Rounded to 1e-9 so the tie-break (host id) is not decided by float noise.
 */
export function scoreHost(host: HostSnapshot, request: PlacementRequest, settings: PlacementSettings = DEFAULT_PLACEMENT_SETTINGS): HostScore {
  const effective = effectiveCapacity(host.capacity, settings);
  const utilisation = (allocated: number, requested: number, total: number) => (total <= 0 ? 1 : Math.min(1, (allocated + requested) / total));
  const cpu = utilisation(host.allocated.cpuMillis, request.resources.cpuMillis, effective.cpuMillis);
  const memory = utilisation(host.allocated.memoryMiB, request.resources.memoryMiB, effective.memoryMiB);
  const weightSum = settings.weights.cpu + settings.weights.memory;
  const fullness = weightSum > 0 ? (settings.weights.cpu * cpu + settings.weights.memory * memory) / weightSum : 0;
  const policy = request.policy ?? settings.policy;
  const score = Math.round((policy === 'binpack' ? fullness : 1 - fullness) * 1e9) / 1e9;
  const scored: HostScore = { hostId: host.id, score, cpu: round(cpu), memory: round(memory) };
  if (inShard(host.id, settings.shard)) scored.preferred = true;
  return scored;
}

function round(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}

/** Hosts that can take the request, best first (the replica's shard first, then score, then host id in byte order). */
export function rankHosts(
  hosts: readonly HostSnapshot[],
  request: PlacementRequest,
  settings: PlacementSettings = DEFAULT_PLACEMENT_SETTINGS,
  /** Whether a member of the affinity group runs anywhere; derived from `hosts` unless they are a subset of the fleet. */
  withAffinity = affinityHostsExist(hosts, request),
): HostSnapshot[] {
  const scored = hosts
    .filter((host) => rejectionOf(host, request, settings, withAffinity) === null)
    .map((host) => ({ host, score: scoreHost(host, request, settings) }));
  scored.sort((a, b) => compareScores(a.score, b.score));
  return scored.map((entry) => entry.host);
}

function compareScores(a: HostScore, b: HostScore): number {
  return Number(b.preferred ?? false) - Number(a.preferred ?? false) || b.score - a.score || compareIds(a.hostId, b.hostId);
}

/** Byte order, not locale order: the tie-break must not depend on the replica's locale. */
function compareIds(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

export interface Explanation {
  policy: ScoringPolicy;
  hostsConsidered: number;
  filters: Array<{ filter: FilterName; removed: Array<{ hostId: string; detail: string }> }>;
  scores: HostScore[];
  choice: string | null;
}

/** Which hosts each filter removed, and the scores of the rest, best first. */
export function explainPlacement(
  hosts: readonly HostSnapshot[],
  request: PlacementRequest,
  settings: PlacementSettings = DEFAULT_PLACEMENT_SETTINGS,
  withAffinity = affinityHostsExist(hosts, request),
): Explanation {
  const removed = new Map<FilterName, Array<{ hostId: string; detail: string }>>(FILTERS.map((filter) => [filter, []]));
  const scores: HostScore[] = [];
  for (const host of [...hosts].sort((a, b) => compareIds(a.id, b.id))) {
    const rejection = rejectionOf(host, request, settings, withAffinity);
    if (rejection) removed.get(rejection.filter)!.push({ hostId: host.id, detail: rejection.detail });
    else scores.push(scoreHost(host, request, settings));
  }
  scores.sort(compareScores);
  return {
    policy: request.policy ?? settings.policy,
    hostsConsidered: hosts.length,
    filters: FILTERS.map((filter) => ({ filter, removed: removed.get(filter)! })),
    scores,
    choice: scores[0]?.hostId ?? null,
  };
}

/** A sentence a tenant can act on, naming the filter that removed the last ready hosts. */
export function explainNoPlacement(hosts: readonly HostSnapshot[], request: PlacementRequest, settings: PlacementSettings = DEFAULT_PLACEMENT_SETTINGS): string {
  const { filters } = explainPlacement(hosts, request, settings);
  const ready = hosts.filter((host) => host.state === 'ready').length;
  if (ready === 0) return 'no host is ready';
  // The last filter that removed anything is the one that left nothing.
  const last = [...filters].reverse().find((entry) => entry.removed.length > 0);
  switch (last?.filter) {
    case 'driver':
      return `no ready host offers the ${request.driver} driver`;
    case 'image':
      return request.image.startsWith(VM_TEMPLATE_PREFIX)
        ? `no ready host has VM template ${request.image.slice(VM_TEMPLATE_PREFIX.length)}`
        : `no ready host has image ${request.image}`;
    case 'dedicated':
      return request.dedicated ? 'no ready host is dedicated to this tenant' : 'every ready host is dedicated to another tenant';
    case 'constraints':
      return `no ready host satisfies ${(request.constraints ?? []).join(', ')}`;
    case 'anti_affinity':
      return `every eligible host already runs a member of anti-affinity group ${request.antiAffinityGroup}`;
    case 'affinity':
      return `no host running affinity group ${request.affinityGroup} has room`;
    default:
      return `no ready host has room for ${describeResources(request.resources)}`;
  }
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
