import { parseBillingPeriod, periodContaining, previousPeriod } from './billing-period';

describe('billing periods', () => {
  it('parses months, days and hours, and nothing shorter than an hour', () => {
    expect(parseBillingPeriod('P1M')).toEqual({ kind: 'month', months: 1 });
    expect(parseBillingPeriod('P1D')).toEqual({ kind: 'hours', hours: 24 });
    expect(parseBillingPeriod('PT1H')).toEqual({ kind: 'hours', hours: 1 });
    expect(() => parseBillingPeriod('PT30M')).toThrow(/billing period/);
    expect(() => parseBillingPeriod('PT0H')).toThrow(/billing period/);
  });

  it('months are UTC calendar months, also across a year end and in February of a leap year', () => {
    const p = periodContaining({ kind: 'month', months: 1 }, new Date('2028-02-29T23:59:59.999Z'));
    expect([p.start.toISOString(), p.end.toISOString()]).toEqual(['2028-02-01T00:00:00.000Z', '2028-03-01T00:00:00.000Z']);
    const dec = periodContaining({ kind: 'month', months: 1 }, new Date('2026-12-31T12:00:00Z'));
    expect(dec.end.toISOString()).toBe('2027-01-01T00:00:00.000Z');
    expect(previousPeriod({ kind: 'month', months: 1 }, dec).start.toISOString()).toBe('2026-11-01T00:00:00.000Z');
  });

  it('hour periods are aligned to the epoch and contain their start but not their end', () => {
    const length = { kind: 'hours', hours: 1 } as const;
    const p = periodContaining(length, new Date('2026-11-27T21:00:00.000Z'));
    expect([p.start.toISOString(), p.end.toISOString()]).toEqual(['2026-11-27T21:00:00.000Z', '2026-11-27T22:00:00.000Z']);
    expect(periodContaining(length, new Date('2026-11-27T21:59:59.999Z')).start.toISOString()).toBe('2026-11-27T21:00:00.000Z');
  });
});
