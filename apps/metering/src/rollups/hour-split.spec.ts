import { ceilToHour, floorToHour, splitAtHours } from './hour-split';

const at = (iso: string) => new Date(iso);

describe('splitAtHours', () => {
  it('keeps an interval inside one hour whole', () => {
    expect(splitAtHours(at('2026-11-27T10:05:00.000Z'), at('2026-11-27T10:35:30.250Z'))).toEqual([
      { hour: at('2026-11-27T10:00:00.000Z'), startedAt: at('2026-11-27T10:05:00.000Z'), endedAt: at('2026-11-27T10:35:30.250Z'), seconds: '1830.250' },
    ]);
  });

  it('cuts at every hour boundary with no gap and no overlap', () => {
    const start = at('2026-11-27T10:59:59.500Z');
    const end = at('2026-11-27T13:00:00.001Z');
    const pieces = splitAtHours(start, end);
    expect(pieces.map((p) => [p.hour.toISOString(), p.seconds])).toEqual([
      ['2026-11-27T10:00:00.000Z', '0.500'],
      ['2026-11-27T11:00:00.000Z', '3600'],
      ['2026-11-27T12:00:00.000Z', '3600'],
      ['2026-11-27T13:00:00.000Z', '0.001'],
    ]);
    expect(pieces[0]?.startedAt).toEqual(start);
    expect(pieces.at(-1)?.endedAt).toEqual(end);
    for (let i = 1; i < pieces.length; i += 1) expect(pieces[i]?.startedAt).toEqual(pieces[i - 1]?.endedAt);
  });

  it('starts a piece exactly on a boundary in that hour, and has nothing for an empty interval', () => {
    expect(splitAtHours(at('2026-11-27T11:00:00Z'), at('2026-11-27T12:00:00Z')).map((p) => [p.hour.toISOString(), p.seconds])).toEqual([['2026-11-27T11:00:00.000Z', '3600']]);
    expect(splitAtHours(at('2026-11-27T11:00:00Z'), at('2026-11-27T11:00:00Z'))).toEqual([]);
    expect(splitAtHours(at('2026-11-27T12:00:00Z'), at('2026-11-27T11:00:00Z'))).toEqual([]);
  });

  it('rounds to hours', () => {
    expect(floorToHour(at('2026-11-27T11:59:59.999Z'))).toEqual(at('2026-11-27T11:00:00Z'));
    expect(ceilToHour(at('2026-11-27T11:00:00.001Z'))).toEqual(at('2026-11-27T12:00:00Z'));
    expect(ceilToHour(at('2026-11-27T11:00:00Z'))).toEqual(at('2026-11-27T11:00:00Z'));
  });
});
