import { ChargeSchema, type Charge } from '@gureum/contracts';
import { dec } from '../money/money';
import { priceCharge } from './pricing';

const charge = (input: unknown): Charge => ChargeSchema.parse(input);
const price = (c: Charge, quantity: string, currency = 'USD') => {
  const priced = priceCharge(c, dec(quantity), currency);
  return { free: priced.free.toFixed(), billable: priced.billable.toFixed(), exact: priced.exact.toFixed(), amount: priced.amount.toFixed(currency === 'KRW' ? 0 : 2) };
};

describe('priceCharge', () => {
  it('per unit: quantity × unit price, exactly, then one half-even rounding', () => {
    const c = charge({ meter: 'vcpu_seconds', pricing: { model: 'per_unit', unitPrice: '0.000011' } });
    // 1,234,567 s × 0.000011 = 13.580237 → 13.58
    expect(price(c, '1234567')).toEqual({ free: '0', billable: '1234567', exact: '13.580237', amount: '13.58' });
    // 0.1 × 0.1 would be 0.010000000000000002 in floating point; here it is exact.
    expect(price(charge({ meter: 'm', pricing: { model: 'per_unit', unitPrice: '0.1' } }), '0.1').exact).toBe('0.01');
  });

  it('rounds half to even at the minor unit: 0.125 → 0.12, 0.135 → 0.14, KRW 2.5 → 2', () => {
    const c = charge({ meter: 'm', pricing: { model: 'per_unit', unitPrice: '0.005' } });
    expect(price(c, '25').amount).toBe('0.12'); // exact 0.125
    expect(price(c, '27').amount).toBe('0.14'); // exact 0.135
    expect(price(charge({ meter: 'm', pricing: { model: 'per_unit', unitPrice: '0.5' } }), '5', 'KRW').amount).toBe('2'); // exact 2.5
    expect(price(charge({ meter: 'm', pricing: { model: 'per_unit', unitPrice: '0.5' } }), '7', 'KRW').amount).toBe('4'); // exact 3.5
  });

  it('free allowance: only what exceeds it is priced; below it nothing is', () => {
    const c = charge({ meter: 'memory_gib_hours', freeAllowance: '100', pricing: { model: 'per_unit', unitPrice: '0.02' } });
    // (250 − 100) × 0.02 = 3.00
    expect(price(c, '250')).toEqual({ free: '100', billable: '150', exact: '3', amount: '3.00' });
    expect(price(c, '40')).toEqual({ free: '40', billable: '0', exact: '0', amount: '0.00' });
  });

  it('graduated: each tier prices its own units, flat fees of the tiers that hold units', () => {
    const c = charge({
      meter: 'cpu_seconds',
      pricing: {
        model: 'graduated',
        tiers: [
          { upTo: '100', unitPrice: '0.10', flatFee: '1' },
          { upTo: '1000', unitPrice: '0.05', flatFee: '2' },
          { upTo: null, unitPrice: '0.01' },
        ],
      },
    });
    // 1500 = 100 × 0.10 + 1 | 900 × 0.05 + 2 | 500 × 0.01 = 11 + 47 + 5 = 63
    expect(price(c, '1500').exact).toBe('63');
    // 50 = 50 × 0.10 + 1 = 6
    expect(price(c, '50').exact).toBe('6');
    // exactly at a boundary: 100 × 0.10 + 1 = 11, the second tier holds nothing
    expect(price(c, '100').exact).toBe('11');
    // 100.5 = 11 + 0.5 × 0.05 + 2 = 13.025 → 13.02 (half even)
    expect(price(c, '100.5')).toMatchObject({ exact: '13.025', amount: '13.02' });
    expect(price(c, '0').exact).toBe('0');
  });

  it('volume: the tier of the whole quantity prices every unit', () => {
    const c = charge({
      meter: 'vcpu_seconds',
      pricing: {
        model: 'volume',
        tiers: [
          { upTo: '100', unitPrice: '0.10' },
          { upTo: '1000', unitPrice: '0.05', flatFee: '3' },
          { upTo: null, unitPrice: '0.01' },
        ],
      },
    });
    expect(price(c, '100').exact).toBe('10'); // 100 × 0.10
    expect(price(c, '101').exact).toBe('8.05'); // 101 × 0.05 + 3
    expect(price(c, '1500').exact).toBe('15'); // 1500 × 0.01
    expect(price(c, '0').exact).toBe('0');
  });

  it('package: whole packages, rounding up, after the free allowance', () => {
    const c = charge({ meter: 'network_bytes', freeAllowance: '1000', pricing: { model: 'package', packageSize: '1000000', packagePrice: '0.09' } });
    // (2,500,001 − 1000) = 2,499,001 → 3 packages × 0.09 = 0.27
    expect(price(c, '2500001')).toMatchObject({ billable: '2499001', exact: '0.27', amount: '0.27' });
    // exactly two packages
    expect(price(c, '2001000').exact).toBe('0.18');
    expect(price(c, '1000').exact).toBe('0');
    expect(price(c, '1000.000001').exact).toBe('0.09');
  });

  it('refuses a negative quantity and tiers that are out of order or open too early', () => {
    const c = charge({ meter: 'm', pricing: { model: 'per_unit', unitPrice: '1' } });
    expect(() => priceCharge(c, dec('-1'), 'USD')).toThrow(/negative/);
    const bad = (tiers: unknown) => ChargeSchema.safeParse({ meter: 'm', pricing: { model: 'graduated', tiers } }).success;
    expect(bad([{ upTo: '10', unitPrice: '1' }, { upTo: '5', unitPrice: '1' }, { upTo: null, unitPrice: '1' }])).toBe(false);
    expect(bad([{ upTo: null, unitPrice: '1' }, { upTo: '5', unitPrice: '1' }])).toBe(false);
    expect(bad([{ upTo: '9', unitPrice: '1' }, { upTo: '10', unitPrice: '1' }, { upTo: null, unitPrice: '1' }])).toBe(true);
    expect(bad([{ upTo: '10', unitPrice: '1' }])).toBe(false);
    expect(ChargeSchema.safeParse({ meter: 'm', pricing: { model: 'per_unit', unitPrice: 0.1 } }).success).toBe(false);
  });
});
