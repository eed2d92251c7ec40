const HOUR_MS = 3_600_000;

export interface HourSegment {
  /** Start of the UTC hour the segment lies in. */
  hour: Date;
  startedAt: Date;
  endedAt: Date;
  /** Exact: milliseconds / 1000 as a decimal string (no float rounding). */
  seconds: string;
}

/**
 * Cuts [start, end) at every hour boundary: the pieces cover the interval exactly, with no gap
 * and no overlap, each inside one hour. An empty or inverted interval has no pieces.
 */
export function splitAtHours(start: Date, end: Date): HourSegment[] {
  const segments: HourSegment[] = [];
  let cursor = start.getTime();
  const stop = end.getTime();
  while (cursor < stop) {
    const hourStart = Math.floor(cursor / HOUR_MS) * HOUR_MS;
    const pieceEnd = Math.min(hourStart + HOUR_MS, stop);
    segments.push({ hour: new Date(hourStart), startedAt: new Date(cursor), endedAt: new Date(pieceEnd), seconds: millisToSeconds(pieceEnd - cursor) });
    cursor = pieceEnd;
  }
  return segments;
}

export function floorToHour(at: Date): Date {
  return new Date(Math.floor(at.getTime() / HOUR_MS) * HOUR_MS);
}

export function ceilToHour(at: Date): Date {
  return new Date(Math.ceil(at.getTime() / HOUR_MS) * HOUR_MS);
}

function millisToSeconds(ms: number): string {
  const whole = Math.floor(ms / 1000);
  const frac = ms % 1000;
  return frac === 0 ? String(whole) : `${whole}.${String(frac).padStart(3, '0')}`;
}
