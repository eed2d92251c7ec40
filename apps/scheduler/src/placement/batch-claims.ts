import type { QuotaAmounts, QuotaExceededDetails, QuotaView } from '@gureum/contracts';
import { quotaViolation } from '../quotas/quota';
import { rejectionOf, type HostSnapshot, type PlacementRequest, type PlacementSettings } from './placement';

/**
 * How a batch of creates is settled once its hosts and its tenants' quota rows are locked:
 * pure, so the arithmetic that keeps a batch from overcommitting is unit-tested without a
 * database (see `create-workload-batch.ts` for the transaction around it).
 */

/**
 * How many hosts of the index's ranking a batch member may fall back on under the lock (all
 * of them are locked): enough that a host another replica filled meanwhile costs a retry
 * rarely, few enough that a batch locks a handful of rows, not the fleet.
 */
export const CANDIDATES_PER_MEMBER = 4;

/** One create of a batch, as far as settling it is concerned. */
export interface BatchMember {
  /** What the claim takes on a host (a VM's includes QEMU's overhead). */
  request: PlacementRequest;
  /** What the workload holds against its tenant's quotas. */
  quota: QuotaAmounts;
  /** Hosts to try, best first, as ranked on the replica's host index (a hint, not a promise). */
  candidates: readonly string[];
}

export type Settlement =
  | { kind: 'placed'; hostId: string }
  | { kind: 'quota_exceeded'; violation: QuotaExceededDetails }
  /** None of its candidates has room under the lock any more (another replica claimed first, or the picture was stale). */
  | { kind: 'no_room' };

/**
 * Settles `members` in order, as if each committed alone before the next: a member over
 * quota (with the earlier members of its tenant counted) is refused; otherwise it takes the
 * first of its candidates that passes every filter on the locked row with the earlier
 * members' claims added; otherwise it found no room. A refused or unplaced member takes
 * nothing, so it never counts against a later one.
 *
 * `hosts` must be the rows as locked (`SELECT … FOR UPDATE` in this transaction): newest
 * committed version, and nobody else can add to them until commit. `quotas` likewise.
 */
export function settleBatch(
  members: readonly BatchMember[],
  hosts: ReadonlyMap<string, HostSnapshot>,
  quotas: ReadonlyMap<string, QuotaView>,
  settings: PlacementSettings,
): Settlement[] {
  const allocated = new Map<string, HostSnapshot>();
  const used = new Map<string, QuotaAmounts>();
  return members.map((member): Settlement => {
    const tenantId = member.request.tenantId;
    const quota = quotas.get(tenantId);
    if (!quota) throw new Error(`settleBatch: quota row of tenant ${tenantId} was not locked`);
    const tenantUsed = used.get(tenantId) ?? quota.used;
    const violation = quotaViolation(quota.limits, tenantUsed, member.quota);
    if (violation) return { kind: 'quota_exceeded', violation };

    for (const hostId of member.candidates) {
      const host = allocated.get(hostId) ?? hosts.get(hostId);
      // A candidate that is not among the locked rows is never accepted (it was not locked).
      if (!host || rejectionOf(host, member.request, settings, false) !== null) continue;
      const { cpuMillis, memoryMiB, pids } = member.request.resources;
      allocated.set(hostId, {
        ...host,
        allocated: { cpuMillis: host.allocated.cpuMillis + cpuMillis, memoryMiB: host.allocated.memoryMiB + memoryMiB, pids: host.allocated.pids + pids },
      });
      used.set(tenantId, {
        cpuMillis: tenantUsed.cpuMillis + member.quota.cpuMillis,
        memoryMiB: tenantUsed.memoryMiB + member.quota.memoryMiB,
        pids: tenantUsed.pids + member.quota.pids,
        workloads: tenantUsed.workloads + member.quota.workloads,
        vms: tenantUsed.vms + member.quota.vms,
      });
      return { kind: 'placed', hostId };
    }
    return { kind: 'no_room' };
  });
}
