import { PlanInputSchema, type PlanView, type UsageRow } from '@gureum/contracts';
import { computeInvoice } from './compute-lines';

const TENANT = '7b0c2a4e-1f8e-4a53-9a4f-4f0e6f0d1a11';
const FROM = new Date('2026-03-01T00:00:00.000Z');
const TO = new Date('2026-03-01T03:00:00.000Z');

function plan(currency: string): PlanView {
  const input = PlanInputSchema.parse({
    name: 'p',
    currency,
    charges: [
      { meter: 'vcpu_seconds', pricing: { model: 'per_unit', unitPrice: '0.333333' } },
      { meter: 'memory_peak_bytes', aggregate: 'max', pricing: { model: 'per_unit', unitPrice: '0.000001' } },
      { meter: 'unused', pricing: { model: 'per_unit', unitPrice: '1' } },
    ],
  });
  return { ...input, id: '8c0c2a4e-1f8e-4a53-9a4f-4f0e6f0d1a11', createdAt: FROM.toISOString() };
}

const row = (hour: number, meter: string, quantity: string): UsageRow => ({
  periodStart: new Date(FROM.getTime() + hour * 3_600_000).toISOString(),
  tenantId: TENANT,
  meter,
  unit: meter === 'vcpu_seconds' ? 'vCPU-second' : 'byte',
  workloadId: null,
  quantity,
});

describe('computeInvoice', () => {
  const rows = [
    row(2, 'vcpu_seconds', '0.0000004'),
    row(0, 'vcpu_seconds', '1.1000004'),
    row(1, 'vcpu_seconds', '2'),
    row(0, 'memory_peak_bytes', '5000000'),
    row(1, 'memory_peak_bytes', '7000000'),
    row(2, 'memory_peak_bytes', '6000000'),
  ];

  it('sums additive meters, takes the maximum of peaks, rounds quantities to 6 digits, and rounds each line once', () => {
    const { lines, total } = computeInvoice(plan('USD'), rows, FROM, TO);
    // vCPU: 1.1000004 + 2 + 0.0000004 = 3.1000008 → 3.100001 (half even) × 0.333333 = 1.033332…  → 1.03
    expect(lines.map((l) => [l.meter, l.quantity.toFixed(), l.amount.toFixed(2)])).toEqual([
      ['vcpu_seconds', '3.100001', '1.03'],
      ['memory_peak_bytes', '7000000', '7.00'], // max, not the 18,000,000 sum
      ['unused', '0', '0.00'],
    ]);
    expect(total.toFixed(2)).toBe('8.03');
    // Provenance: the hours in order, each with metering's own quantity text.
    expect(lines[0]?.rollups).toEqual([
      { hour: '2026-03-01T00:00:00.000Z', quantity: '1.1000004' },
      { hour: '2026-03-01T01:00:00.000Z', quantity: '2' },
      { hour: '2026-03-01T02:00:00.000Z', quantity: '0.0000004' },
    ]);
    expect(lines[2]?.rollups).toEqual([]);
  });

  it('the total is the sum of rounded lines, not the rounded sum of exact amounts', () => {
    const p = plan('USD');
    p.charges = [
      { meter: 'a', freeAllowance: '0', aggregate: 'sum', pricing: { model: 'per_unit', unitPrice: '0.005' } },
      { meter: 'b', freeAllowance: '0', aggregate: 'sum', pricing: { model: 'per_unit', unitPrice: '0.005' } },
    ];
    // Each line is exactly 0.005 → 0.00 (half even); the exact sum 0.01 would round to 0.01.
    const { lines, total } = computeInvoice(p, [row(0, 'a', '1'), row(0, 'b', '1')], FROM, TO);
    expect(lines.map((l) => l.amount.toFixed(2))).toEqual(['0.00', '0.00']);
    expect(total.toFixed(2)).toBe('0.00');
  });

  it('rounds to whole units in a zero-decimal currency', () => {
    const { lines } = computeInvoice(plan('KRW'), rows, FROM, TO);
    expect(lines.map((l) => l.amount.toFixed())).toEqual(['1', '7', '0']);
  });
});
