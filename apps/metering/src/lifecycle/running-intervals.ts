/** A lifecycle fact as metering keeps it. */
export interface LifecycleFact {
  to: string;
  at: Date;
  cpuMillis: number | null;
  memoryMiB: number | null;
}

export interface RunningInterval {
  startedAt: Date;
  endedAt: Date;
  /** Still running: `endedAt` is the cut-off it was measured to. */
  open: boolean;
  cpuMillis: number;
  memoryMiB: number;
}

/**
 * States in which an allocation that is running stays open: `unknown` means the host is
 * silent but within the disconnect grace window and the workload keeps its placement (and,
 * as far as anyone knows, keeps running), so `running → unknown → running` is one continuous
 * interval. From `unknown` the interval ends at the next fact that is neither: the workload
 * was stopped, failed, or given up (`lost`, re-placed) at the end of the grace window.
 */
export const ALLOCATION_CONTINUES: ReadonlySet<string> = new Set(['running', 'unknown']);

/**
 * Running intervals from a workload's facts in stream order: entering `running` opens one,
 * the first fact that leaves it (other than to `unknown`, see ALLOCATION_CONTINUES) closes
 * it. A repeated `running` (or `unknown`) while open changes nothing, so intervals never
 * overlap; `unknown` while nothing is open opens nothing. An interval still open is measured up to `cutoff` (complete
 * hours only, so a later run extends it without rewriting anything already counted).
 * Facts without resources (older events) give no allocated time.
 */
export function runningIntervals(facts: readonly LifecycleFact[], cutoff: Date): RunningInterval[] {
  const intervals: RunningInterval[] = [];
  let open: LifecycleFact | null = null;
  for (const fact of facts) {
    if (fact.to === 'running') {
      open ??= fact;
      continue;
    }
    if (fact.to === 'unknown') continue;
    if (open) {
      push(open, fact.at, false);
      open = null;
    }
  }
  if (open) push(open, cutoff, true);
  return intervals;

  function push(start: LifecycleFact, end: Date, stillOpen: boolean): void {
    if (start.cpuMillis === null || start.memoryMiB === null || end <= start.at) return;
    intervals.push({ startedAt: start.at, endedAt: end, open: stillOpen, cpuMillis: start.cpuMillis, memoryMiB: start.memoryMiB });
  }
}
