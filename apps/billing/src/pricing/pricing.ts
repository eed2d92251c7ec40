import type { Charge, PriceTier, Pricing } from '@gureum/contracts';
import { Dec, dec, roundMoney, ZERO } from '../money/money';

export interface PricedQuantity {
  /** The usage not charged because of the free allowance. */
  free: Dec;
  /** The usage the pricing applies to: max(0, quantity − free allowance). */
  billable: Dec;
  /** The exact amount, before the one rounding of the line. */
  exact: Dec;
  /** `exact` rounded half-to-even to the currency's minor unit. */
  amount: Dec;
}

/** Prices one period's quantity of one meter under one charge, in `currency`. Pure. */
export function priceCharge(charge: Charge, quantity: Dec, currency: string): PricedQuantity {
  if (quantity.isNegative()) throw new Error(`negative quantity ${quantity.toFixed()} for meter ${charge.meter}`);
  const allowance = dec(charge.freeAllowance);
  const free = Dec.min(quantity, allowance);
  const billable = quantity.minus(free);
  const exact = amountOf(charge.pricing, billable);
  return { free, billable, exact, amount: roundMoney(exact, currency) };
}

/** The exact amount of `billable` units under `pricing`. */
export function amountOf(pricing: Pricing, billable: Dec): Dec {
  switch (pricing.model) {
    case 'per_unit':
      return billable.times(dec(pricing.unitPrice));
    case 'graduated':
      return graduated(pricing.tiers, billable);
    case 'volume':
      return volume(pricing.tiers, billable);
    case 'package': {
      if (billable.isZero()) return ZERO;
      const packages = billable.dividedBy(dec(pricing.packageSize)).ceil();
      return packages.times(dec(pricing.packagePrice));
    }
  }
}

/** Each tier prices the units that fall inside it; a tier's flat fee is charged when it holds any unit. */
function graduated(tiers: readonly PriceTier[], billable: Dec): Dec {
  let total = ZERO;
  let lower = ZERO;
  for (const tier of tiers) {
    if (billable.lte(lower)) break;
    const upper = tier.upTo === null ? billable : Dec.min(billable, dec(tier.upTo));
    const units = upper.minus(lower);
    if (units.gt(0)) total = total.plus(units.times(dec(tier.unitPrice))).plus(dec(tier.flatFee));
    if (tier.upTo === null) break;
    lower = dec(tier.upTo);
  }
  return total;
}

/** The tier the whole quantity falls in prices every unit (plus its flat fee); no usage, no charge. */
function volume(tiers: readonly PriceTier[], billable: Dec): Dec {
  if (billable.isZero()) return ZERO;
  const tier = tiers.find((t) => t.upTo === null || billable.lte(dec(t.upTo))) ?? tiers[tiers.length - 1];
  if (!tier) return ZERO;
  return billable.times(dec(tier.unitPrice)).plus(dec(tier.flatFee));
}
