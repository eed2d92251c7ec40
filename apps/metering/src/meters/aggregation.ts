export const AGGREGATIONS = ['SUM', 'MAX', 'AVG', 'LATEST', 'COUNT'] as const;
export type Aggregation = (typeof AGGREGATIONS)[number];

/**
 * SQL aggregate of `value` (numeric) over a group, ordered by `at` where order matters.
 * Everything stays `numeric`: no float enters an aggregation.
 */
export function aggregateSql(aggregation: Aggregation, value: string, at: string): string {
  switch (aggregation) {
    case 'SUM':
      return `COALESCE(SUM(${value}), 0)::numeric`;
    case 'MAX':
      return `MAX(${value})::numeric`;
    case 'AVG':
      return `AVG(${value})::numeric`;
    case 'LATEST':
      return `(array_agg(${value} ORDER BY ${at} DESC))[1]::numeric`;
    case 'COUNT':
      return `COUNT(${value})::numeric`;
  }
}

/**
 * How hourly rollups combine into a coarser period (a day, or all workloads of a meter):
 * counts add up like sums; an average of hourly averages is what the hours hold.
 */
export function combineSql(aggregation: Aggregation, value: string, at: string): string {
  return aggregateSql(aggregation === 'COUNT' ? 'SUM' : aggregation, value, at);
}

/** The value a sample contributes to a meter fed by samples, by the meter's `source`. */
export const SAMPLE_SOURCES: Readonly<Record<string, string>> = {
  'sample.cpu': `(s.cpu_delta_ns / 1000000000)`,
  'sample.memory': `s.memory_bytes::numeric`,
  'sample.memory_peak': `COALESCE(s.memory_peak_bytes, s.memory_bytes)::numeric`,
  'sample.pids': `s.pids::numeric`,
  // Byte counters: deltas (0 where the agent had no reading), like CPU.
  'sample.net_rx': `s.net_rx_delta`,
  'sample.net_tx': `s.net_tx_delta`,
  'sample.blk_read': `s.blk_read_delta`,
  'sample.blk_write': `s.blk_write_delta`,
};

/** The value an allocation segment contributes to a lifecycle meter. */
export const LIFECYCLE_SOURCES: Readonly<Record<string, string>> = {
  'lifecycle.vcpu': `(g.seconds * g.cpu_millis / 1000)`,
  'lifecycle.memory': `(g.seconds * g.memory_mib / 1024 / 3600)`,
};

/** The value a registry storage segment (bytes held for some seconds) contributes to a registry meter. */
export const REGISTRY_SOURCES: Readonly<Record<string, string>> = {
  'registry.storage': `(g.bytes * g.seconds / 1073741824 / 3600)`,
};
