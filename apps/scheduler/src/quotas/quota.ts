import { ErrorCode, GureumError, QUOTA_NAMES, type QuotaAmounts, type QuotaExceededDetails } from '@gureum/contracts';

/** Pure quota arithmetic; the store applies it under the tenant's quota row lock. */

/** What one workload holds against its tenant's quotas, from creation until it is deleted. */
export function quotaDeltaOf(workload: { kind: string; cpuMillis: number; memoryMiB: number; pids: number }): QuotaAmounts {
  return { cpuMillis: workload.cpuMillis, memoryMiB: workload.memoryMiB, pids: workload.pids, workloads: 1, vms: workload.kind === 'vm' ? 1 : 0 };
}

/** The first quota (in `QUOTA_NAMES` order) that `used + delta` would exceed, or null. */
export function quotaViolation(limits: QuotaAmounts, used: QuotaAmounts, delta: QuotaAmounts): QuotaExceededDetails | null {
  for (const quota of QUOTA_NAMES) {
    if (delta[quota] > 0 && used[quota] + delta[quota] > limits[quota]) {
      return { quota, limit: limits[quota], used: used[quota], requested: delta[quota] };
    }
  }
  return null;
}

export function quotaExceeded(details: QuotaExceededDetails): GureumError {
  return new GureumError(
    ErrorCode.QuotaExceeded,
    `the tenant's ${details.quota} quota would be exceeded: ${details.used} used + ${details.requested} requested > ${details.limit}`,
    { ...details },
  );
}

/** Limits of a tenant: its overrides where set, the defaults elsewhere. */
export function effectiveLimits(defaults: QuotaAmounts, overrides: Partial<Record<keyof QuotaAmounts, number | null>>): QuotaAmounts {
  return {
    cpuMillis: overrides.cpuMillis ?? defaults.cpuMillis,
    memoryMiB: overrides.memoryMiB ?? defaults.memoryMiB,
    pids: overrides.pids ?? defaults.pids,
    workloads: overrides.workloads ?? defaults.workloads,
    vms: overrides.vms ?? defaults.vms,
  };
}
