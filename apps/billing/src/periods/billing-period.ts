const HOUR_MS = 3_600_000;

/** How long a billing period is: calendar months (UTC) or a whole number of hours aligned to the Unix epoch. */
export type BillingPeriodLength = { kind: 'month'; months: number } | { kind: 'hours'; hours: number };

export interface Period {
  start: Date;
  end: Date;
}

/**
 * Parses the ISO 8601 durations billing accepts: `P<n>M` (calendar months), `P<n>D` (days)
 * and `PT<n>H` (hours). Rollups are hourly, so nothing shorter than an hour is accepted.
 */
export function parseBillingPeriod(text: string): BillingPeriodLength {
  const month = /^P([1-9][0-9]?)M$/.exec(text);
  if (month) return { kind: 'month', months: Number(month[1]) };
  const day = /^P([1-9][0-9]{0,2})D$/.exec(text);
  if (day) return { kind: 'hours', hours: Number(day[1]) * 24 };
  const hour = /^PT([1-9][0-9]{0,4})H$/.exec(text);
  if (hour) return { kind: 'hours', hours: Number(hour[1]) };
  throw new Error(`billing period must be P<n>M, P<n>D or PT<n>H, not ${text}`);
}

/** The period that contains `at`. Months start on the first of a UTC month (counted from 1970-01); hours on epoch multiples. */
export function periodContaining(length: BillingPeriodLength, at: Date): Period {
  if (length.kind === 'hours') {
    const size = length.hours * HOUR_MS;
    const start = Math.floor(at.getTime() / size) * size;
    return { start: new Date(start), end: new Date(start + size) };
  }
  const monthIndex = at.getUTCFullYear() * 12 + at.getUTCMonth();
  const first = monthIndex - (((monthIndex - 1970 * 12) % length.months) + length.months) % length.months;
  return { start: monthStart(first), end: monthStart(first + length.months) };
}

/** The period right before `period`. */
export function previousPeriod(length: BillingPeriodLength, period: Period): Period {
  return periodContaining(length, new Date(period.start.getTime() - 1));
}

function monthStart(monthIndex: number): Date {
  return new Date(Date.UTC(Math.floor(monthIndex / 12), monthIndex % 12, 1));
}

export function floorToHour(at: Date): Date {
  return new Date(Math.floor(at.getTime() / HOUR_MS) * HOUR_MS);
}
