import { covers, freeResources, rejectionOf, type HostSnapshot, type PlacementRequest, type PlacementSettings, type ResourceAmounts } from './placement';

/** A live workload on a host that a higher-priority one may displace. */
export interface PreemptionCandidate {
  workloadId: string;
  hostId: string;
  priority: number;
  preemptible: boolean;
  resources: ResourceAmounts;
  /** Tie-break among equal priorities: the newest goes first (it has run the least). */
  createdAt: number;
}

export interface PreemptionPlan {
  hostId: string;
  victims: string[];
}

/**
 * Where to make room for `request` (priority `priority`) by stopping lower-priority workloads
 * that opted in (`preemptible`), or null. Only hosts that fail on capacity alone qualify —
 * preemption never overrides state, driver, image, dedication, constraints or groups. On each
 * such host victims are taken lowest priority first (newest first among equals) until the
 * request fits; the plan with the lowest highest-victim priority wins, then the fewest
 * victims, then host id. Pure and deterministic, like the rest of placement.
 */
export function planPreemption(
  hosts: readonly HostSnapshot[],
  candidates: readonly PreemptionCandidate[],
  request: PlacementRequest,
  priority: number,
  settings: PlacementSettings,
  withAffinity = false,
): PreemptionPlan | null {
  let best: { plan: PreemptionPlan; worst: number } | null = null;
  for (const host of hosts) {
    if (rejectionOf(host, request, settings, withAffinity)?.filter !== 'capacity') continue;
    const victims = candidates
      .filter((c) => c.hostId === host.id && c.preemptible && c.priority < priority)
      .sort((a, b) => a.priority - b.priority || b.createdAt - a.createdAt || (a.workloadId < b.workloadId ? -1 : 1));
    const free = freeResources(host, settings);
    const chosen: PreemptionCandidate[] = [];
    for (const victim of victims) {
      if (covers(free, request.resources)) break;
      chosen.push(victim);
      free.cpuMillis += victim.resources.cpuMillis;
      free.memoryMiB += victim.resources.memoryMiB;
      free.pids += victim.resources.pids;
    }
    // Room now, and the host itself is big enough (rejectionOf without the victims' load).
    if (chosen.length === 0 || !covers(free, request.resources)) continue;
    const freed = { ...host, allocated: { cpuMillis: host.allocated.cpuMillis - sum(chosen, 'cpuMillis'), memoryMiB: host.allocated.memoryMiB - sum(chosen, 'memoryMiB'), pids: host.allocated.pids - sum(chosen, 'pids') } };
    if (rejectionOf(freed, request, settings, withAffinity) !== null) continue;
    const worst = Math.max(...chosen.map((c) => c.priority));
    const plan = { hostId: host.id, victims: chosen.map((c) => c.workloadId) };
    if (
      best === null ||
      worst < best.worst ||
      (worst === best.worst && (plan.victims.length < best.plan.victims.length || (plan.victims.length === best.plan.victims.length && plan.hostId < best.plan.hostId)))
    ) {
      best = { plan, worst };
    }
  }
  return best?.plan ?? null;
}

function sum(items: readonly PreemptionCandidate[], key: keyof ResourceAmounts): number {
  return items.reduce((total, item) => total + item.resources[key], 0);
}
