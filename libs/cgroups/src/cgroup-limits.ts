import { CgroupError } from './cgroup.exception';
import type { CgroupLimits } from './cgroup.types';

export const DEFAULT_CPU_PERIOD_US = 100_000;

/** Range checks beyond "positive integer" are left to the kernel, which knows its own bounds. */
export function assertLimits(limits: CgroupLimits): void {
  for (const [key, value] of Object.entries(limits)) {
    if (value !== undefined && (!Number.isSafeInteger(value) || value <= 0)) {
      throw new CgroupError('invalid_limits', `cgroup limit ${key} must be a positive integer, got ${String(value)}`);
    }
  }
}
