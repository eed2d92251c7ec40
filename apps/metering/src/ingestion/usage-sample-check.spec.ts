import { UsageSampleSchema } from '@gureum/contracts';
import { checkUsageSample, isPlainValidUsageSample } from './usage-sample-check';

const valid = {
  sampleId: 'c0a80101-0000-4000-8000-000000000001/h1/1767225600000',
  nodeId: 'node-a',
  workloadId: 'c0a80101-0000-4000-8000-000000000001',
  tenantId: 'c0a80101-0000-4000-8000-0000000000aa',
  handleId: 'h1',
  sampledAt: '2026-01-01T00:00:00.000Z',
  cpuUsageNs: '123456789012345678901',
  memoryBytes: 50_000_000,
  memoryPeakBytes: 60_000_000,
  pids: 4,
  networkRxBytes: '1500',
  networkTxBytes: null,
  blockReadBytes: '0',
};

/** Values that break (or nearly break) each kind of rule of the schema. */
const replacements: unknown[] = [
  undefined, null, '', 'x', 0, -0, 1, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, 2_147_483_647, 2_147_483_648, true, [], {}, '0', '01', '-1', '1e3', ' 1',
  '1'.repeat(30), '1'.repeat(31), 'a'.repeat(63), 'a'.repeat(64), 'a'.repeat(128), 'a'.repeat(129), 'a'.repeat(256), 'a'.repeat(257),
  'c0a80101-0000-4000-8000-00000000000', 'C0A80101-0000-4000-8000-000000000001', 'c0a80101-0000-0000-8000-000000000001', 'c0a80101-0000-4000-c000-000000000001',
  '00000000-0000-0000-0000-000000000000', 'c0a80101000040008000000000000001',
  '2026-01-01T00:00:00Z', '2026-01-01T00:00:00+02:00', '2026-01-01T00:00:00', '2026-02-30T00:00:00Z', '2024-02-29T00:00:00Z', '2025-02-29T00:00:00Z',
  '2026-01-01T24:00:00Z', '2026-01-01 00:00:00Z', '2026-01-01T00:00:00.123456789Z', '2026-01-01T00:00:00.Z', '2026-01-01T00:00:60Z', '2026-13-01T00:00:00Z',
];

describe('the usage sample fast check', () => {
  it('accepts the samples agents send, as the schema does', () => {
    for (const sample of [valid, { ...valid, memoryPeakBytes: null }, (({ networkRxBytes: _a, networkTxBytes: _b, blockReadBytes: _c, ...rest }) => rest)(valid)]) {
      expect(UsageSampleSchema.safeParse(sample).success).toBe(true);
      expect(isPlainValidUsageSample(sample)).toBe(true);
      expect(checkUsageSample(sample)).toEqual({ success: true, data: sample });
    }
  });

  it('never accepts what the schema rejects, and agrees with it on every single-field change', () => {
    const keys = [...Object.keys(UsageSampleSchema.shape), 'extra', '__proto__'];
    let rejected = 0;
    for (const key of keys) {
      for (const replacement of replacements) {
        const sample: Record<string, unknown> = JSON.parse(JSON.stringify(valid));
        if (replacement === undefined) delete sample[key];
        else Object.defineProperty(sample, key, { value: replacement, enumerable: true, configurable: true, writable: true });
        const zod = UsageSampleSchema.safeParse(sample).success;
        if (isPlainValidUsageSample(sample)) expect({ key, replacement, zod }).toEqual({ key, replacement, zod: true });
        expect({ key, replacement, check: checkUsageSample(sample).success }).toEqual({ key, replacement, check: zod });
        if (!zod) rejected += 1;
      }
    }
    expect(rejected).toBeGreaterThan(300);
  });

  it('rejects non-objects and gives the schema issues for a bad sample', () => {
    for (const value of [null, 'x', 1, [], [valid]]) expect(checkUsageSample(value).success).toBe(false);
    const bad = checkUsageSample({ ...valid, cpuUsageNs: '-5' });
    expect(bad.success).toBe(false);
    if (!bad.success) expect(JSON.stringify(bad.issues)).toContain('cpuUsageNs');
  });
});
