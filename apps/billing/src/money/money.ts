import Decimal from 'decimal.js';

/**
 * Money and quantities are decimals, never JS numbers. This Decimal constructor has enough
 * significant digits for numeric(20,6) × numeric(20,6) products to be exact, so rounding
 * happens only where `roundMoney` / `roundQuantity` say so.
 */
export const Dec = Decimal.clone({ precision: 60, rounding: Decimal.ROUND_HALF_EVEN, toExpNeg: -40, toExpPos: 60 });
export type Dec = InstanceType<typeof Dec>;

/** Stored quantities and unit prices are numeric(20,6). */
export const QUANTITY_SCALE = 6;

const DECIMAL_TEXT = /^-?[0-9]+(\.[0-9]+)?$/;

/** Parses a decimal string (the only way a number enters a money path); throws on anything else. */
export function dec(text: string): Dec {
  if (!DECIMAL_TEXT.test(text)) throw new Error(`not a decimal: ${JSON.stringify(text)}`);
  return new Dec(text);
}

export const ZERO = new Dec(0);

/**
 * Digits after the point of a currency's minor unit (ISO 4217). Amounts are stored as
 * numeric(20,2), so currencies with three-digit minor units are refused, not rounded.
 */
const ZERO_DECIMAL_CURRENCIES: ReadonlySet<string> = new Set(['BIF', 'CLP', 'DJF', 'GNF', 'ISK', 'JPY', 'KMF', 'KRW', 'PYG', 'RWF', 'UGX', 'VND', 'VUV', 'XAF', 'XOF', 'XPF']);
const THREE_DECIMAL_CURRENCIES: ReadonlySet<string> = new Set(['BHD', 'IQD', 'JOD', 'KWD', 'LYD', 'OMR', 'TND']);

export function isSupportedCurrency(code: string): boolean {
  return /^[A-Z]{3}$/.test(code) && !THREE_DECIMAL_CURRENCIES.has(code);
}

export function minorUnitDigits(currency: string): number {
  if (!isSupportedCurrency(currency)) throw new Error(`unsupported currency ${currency}`);
  return ZERO_DECIMAL_CURRENCIES.has(currency) ? 0 : 2;
}

/**
 * THE rounding rule of billing: an exact amount is rounded half-to-even to the currency's
 * minor unit, once per invoice line (and once for a forecast). Totals are sums of rounded
 * lines, so they need no rounding of their own.
 */
export function roundMoney(amount: Dec, currency: string): Dec {
  return amount.toDecimalPlaces(minorUnitDigits(currency), Dec.ROUND_HALF_EVEN);
}

/** Quantities from metering are rounded half-to-even to numeric(20,6) before they are priced, so the stored quantity reproduces the amount. */
export function roundQuantity(quantity: Dec): Dec {
  return quantity.toDecimalPlaces(QUANTITY_SCALE, Dec.ROUND_HALF_EVEN);
}

/** `12.5` in KRW → "13" is not done here: this only formats an already rounded amount with its currency's digits ("12.50"). */
export function formatMoney(amount: Dec, currency: string): string {
  return amount.toFixed(minorUnitDigits(currency));
}

/** A quantity or price as text without trailing zeros ("1.500000" → "1.5"). */
export function formatDecimal(value: Dec): string {
  return value.toFixed();
}

/** True when `text` has no more digits after the point than the currency's minor unit allows. */
export function fitsMinorUnit(text: string, currency: string): boolean {
  const value = dec(text);
  return value.equals(roundMoney(value, currency));
}
