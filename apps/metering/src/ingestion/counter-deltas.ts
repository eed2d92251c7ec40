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

/** Deltas of readings sorted by time; `before` is the reading just before the first one, if any. */
export function counterDeltas(before: CounterReading | null, readings: readonly CounterReading[]): bigint[] {
  let previous = before;
  return readings.map((reading) => {
    const delta = counterDelta(previous, reading);
    previous = reading;
    return delta;
  });
}
