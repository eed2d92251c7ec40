import { runningIntervals, type LifecycleFact } from './running-intervals';

const fact = (to: string, iso: string, cpuMillis: number | null = 500, memoryMiB: number | null = 256): LifecycleFact => ({ to, at: new Date(iso), cpuMillis, memoryMiB });
const cutoff = new Date('2026-11-27T20:00:00Z');

describe('runningIntervals', () => {
  it('pairs entering running with the first fact that leaves it', () => {
    const intervals = runningIntervals(
      [fact('pending', '2026-11-27T10:00:00Z'), fact('starting', '2026-11-27T10:00:01Z'), fact('running', '2026-11-27T10:00:02Z'), fact('stopping', '2026-11-27T10:30:00Z'), fact('stopped', '2026-11-27T10:30:05Z')],
      cutoff,
    );
    expect(intervals).toEqual([{ startedAt: new Date('2026-11-27T10:00:02Z'), endedAt: new Date('2026-11-27T10:30:00Z'), open: false, cpuMillis: 500, memoryMiB: 256 }]);
  });

  it('never overlaps on a repeated running and keeps separate runs apart', () => {
    const intervals = runningIntervals(
      [fact('running', '2026-11-27T10:00:00Z'), fact('running', '2026-11-27T10:10:00Z'), fact('stopping', '2026-11-27T11:00:00Z'), fact('running', '2026-11-27T12:00:00Z', 1000), fact('paused', '2026-11-27T12:30:00Z')],
      cutoff,
    );
    expect(intervals.map((i) => [i.startedAt.toISOString(), i.endedAt.toISOString(), i.cpuMillis])).toEqual([
      ['2026-11-27T10:00:00.000Z', '2026-11-27T11:00:00.000Z', 500],
      ['2026-11-27T12:00:00.000Z', '2026-11-27T12:30:00.000Z', 1000],
    ]);
  });

  it('measures a still-running workload up to the cutoff, and not at all before it', () => {
    expect(runningIntervals([fact('running', '2026-11-27T18:15:00Z')], cutoff)).toEqual([
      { startedAt: new Date('2026-11-27T18:15:00Z'), endedAt: cutoff, open: true, cpuMillis: 500, memoryMiB: 256 },
    ]);
    expect(runningIntervals([fact('running', '2026-11-27T20:15:00Z')], cutoff)).toEqual([]);
  });

  it('gives no allocated time for facts without resources', () => {
    expect(runningIntervals([fact('running', '2026-11-27T10:00:00Z', null, null), fact('stopped', '2026-11-27T11:00:00Z')], cutoff)).toEqual([]);
  });

  it('keeps an allocation continuous across unknown (host silent within the grace window) and ends it when the workload is given up or stopped', () => {
    const continuous = runningIntervals([fact('running', '2026-11-27T10:00:00Z'), fact('unknown', '2026-11-27T10:20:00Z'), fact('running', '2026-11-27T10:21:00Z'), fact('stopping', '2026-11-27T11:00:00Z')], cutoff);
    expect(continuous.map((i) => [i.startedAt.toISOString(), i.endedAt.toISOString()])).toEqual([['2026-11-27T10:00:00.000Z', '2026-11-27T11:00:00.000Z']]);
    // The grace window ran out: the interval ends when the scheduler gives the workload up, and a re-placement opens a new one.
    const givenUp = runningIntervals([fact('running', '2026-11-27T10:00:00Z'), fact('unknown', '2026-11-27T10:20:00Z'), fact('lost', '2026-11-27T10:21:00Z'), fact('pending', '2026-11-27T10:21:00Z'), fact('scheduled', '2026-11-27T10:21:01Z'), fact('running', '2026-11-27T10:21:05Z')], cutoff);
    expect(givenUp.map((i) => [i.startedAt.toISOString(), i.endedAt.toISOString(), i.open])).toEqual([
      ['2026-11-27T10:00:00.000Z', '2026-11-27T10:21:00.000Z', false],
      ['2026-11-27T10:21:05.000Z', cutoff.toISOString(), true],
    ]);
    // Stopped while unknown: ends at the stop; an unknown while nothing runs opens nothing; still unknown at the cutoff: open.
    expect(runningIntervals([fact('running', '2026-11-27T10:00:00Z'), fact('unknown', '2026-11-27T10:20:00Z'), fact('stopping', '2026-11-27T10:30:00Z')], cutoff).map((i) => i.endedAt.toISOString())).toEqual(['2026-11-27T10:30:00.000Z']);
    expect(runningIntervals([fact('scheduled', '2026-11-27T10:00:00Z'), fact('unknown', '2026-11-27T10:20:00Z'), fact('stopped', '2026-11-27T10:30:00Z')], cutoff)).toEqual([]);
    expect(runningIntervals([fact('running', '2026-11-27T19:00:00Z'), fact('unknown', '2026-11-27T19:20:00Z')], cutoff).map((i) => [i.endedAt.toISOString(), i.open])).toEqual([[cutoff.toISOString(), true]]);
  });
});
