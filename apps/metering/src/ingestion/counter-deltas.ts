/** One reading of a cumulative counter, in time order within a workload. */
export interface CounterReading {
  handleId: string;
  value: bigint;
}

/**
 * Usage between two readings of a cumulative counter. Monotonic on the same handle: the
 * difference. Otherwise the counter started again (a restarted container, a new handle, a
 * counter that went down): everything it shows was used since then, so the new value.
 * Without a previous reading the counter counts from the task's start: the value itself.
 */
export function counterDelta(previous: CounterReading | null, current: CounterReading): bigint {
  if (previous && previous.handleId === current.handleId && current.value >= previous.value) return current.value - previous.value;
  return current.value;
}

/** A reading of a counter that the agent may not have been able to take (`null`). */
export interface MaybeCounterReading {
  handleId: string;
  value: bigint | null;
}

/**
 * Deltas of readings sorted by time; `before` is the last reading with a value before the
 * first one, if any. A missing reading adds nothing and is skipped over: the next reading is
 * compared with the last one that had a value, so a gap neither loses nor double-counts usage.
 */
export function counterDeltas(before: CounterReading | null, readings: readonly MaybeCounterReading[]): bigint[] {
  let previous = before;
  return readings.map((reading) => {
    if (reading.value === null) return 0n;
    const current = { handleId: reading.handleId, value: reading.value };
    const delta = counterDelta(previous, current);
    previous = current;
    return delta;
  });
}
