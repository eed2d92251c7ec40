import { UsageSampleSchema, type UsageSample } from '@gureum/contracts';

/*
 * A fast path in front of `UsageSampleSchema` (zod) for the one message shape metering reads
 * a million times: it only ever *accepts*; whatever it does not accept goes to zod, which
 * decides and explains. So it cannot be more lenient than the schema as long as every check
 * below is at least as strict as the schema's (the patterns are zod 4's own for `z.uuid()`
 * and `z.iso.datetime({ offset: true })`); usage-sample-check.spec.ts compares the two on
 * valid samples and on thousands of mutations of them.
 */

const UUID = /^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff)$/;
const DATETIME =
  /^(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|(?:02)-(?:0[1-9]|1\d|2[0-8])))T(?:(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:Z|([+-](?:[01]\d|2[0-3]):[0-5]\d)))$/;
const COUNTER = /^(0|[1-9][0-9]{0,29})$/;

const REQUIRED = ['sampleId', 'nodeId', 'workloadId', 'tenantId', 'handleId', 'sampledAt', 'cpuUsageNs', 'memoryBytes', 'memoryPeakBytes', 'pids'] as const;
const OPTIONAL_COUNTERS = ['networkRxBytes', 'networkTxBytes', 'blockReadBytes', 'blockWriteBytes'] as const;
const KNOWN = new Set<string>([...REQUIRED, ...OPTIONAL_COUNTERS]);

function text(value: unknown, min: number, max: number): boolean {
  return typeof value === 'string' && value.length >= min && value.length <= max;
}

function count(value: unknown, max: number): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= max;
}

/** True only for a value `UsageSampleSchema` accepts unchanged (no defaults, no transforms in it). */
export function isPlainValidUsageSample(value: unknown): value is UsageSample {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.getPrototypeOf(value) !== Object.prototype) return false;
  const v = value as Record<string, unknown>;
  let keys = 0;
  for (const key in v) {
    if (!Object.prototype.hasOwnProperty.call(v, key) || !KNOWN.has(key)) return false;
    keys += 1;
  }
  if (keys < REQUIRED.length) return false;
  for (const key of REQUIRED) if (!Object.prototype.hasOwnProperty.call(v, key)) return false;
  if (!text(v['sampleId'], 1, 256) || !text(v['nodeId'], 1, 63) || !text(v['handleId'], 1, 128)) return false;
  if (typeof v['workloadId'] !== 'string' || !UUID.test(v['workloadId']) || typeof v['tenantId'] !== 'string' || !UUID.test(v['tenantId'])) return false;
  if (typeof v['sampledAt'] !== 'string' || !DATETIME.test(v['sampledAt'])) return false;
  if (typeof v['cpuUsageNs'] !== 'string' || !COUNTER.test(v['cpuUsageNs'])) return false;
  if (!count(v['memoryBytes'], Number.MAX_SAFE_INTEGER) || !count(v['pids'], 2_147_483_647)) return false;
  if (v['memoryPeakBytes'] !== null && !count(v['memoryPeakBytes'], Number.MAX_SAFE_INTEGER)) return false;
  for (const key of OPTIONAL_COUNTERS) {
    const counter = v[key];
    // Absent, or explicitly undefined (zod's optional accepts both; JSON never carries undefined).
    if (counter === undefined || counter === null) continue;
    if (typeof counter !== 'string' || !COUNTER.test(counter)) return false;
  }
  return true;
}

export type UsageSampleCheck = { success: true; data: UsageSample } | { success: false; issues: unknown };

/** `UsageSampleSchema.safeParse`, with the fast path for the common, valid case. */
export function checkUsageSample(value: unknown): UsageSampleCheck {
  if (isPlainValidUsageSample(value)) return { success: true, data: value };
  const parsed = UsageSampleSchema.safeParse(value);
  return parsed.success ? { success: true, data: parsed.data } : { success: false, issues: parsed.error.issues };
}
