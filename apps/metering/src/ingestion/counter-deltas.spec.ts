import { counterDelta, counterDeltas } from './counter-deltas';

describe('counter deltas', () => {
  it('is the difference while the counter grows on the same handle', () => {
    expect(counterDelta({ handleId: 'h1', value: 1_000n }, { handleId: 'h1', value: 1_750n })).toBe(750n);
    expect(counterDelta({ handleId: 'h1', value: 1_000n }, { handleId: 'h1', value: 1_000n })).toBe(0n);
  });

  it('counts the new value after a reset: the counter went down, or the handle changed', () => {
    expect(counterDelta({ handleId: 'h1', value: 5_000n }, { handleId: 'h1', value: 300n })).toBe(300n);
    expect(counterDelta({ handleId: 'h1', value: 5_000n }, { handleId: 'h2', value: 9_000n })).toBe(9_000n);
  });

  it('counts the first reading whole (the counter started with the task)', () => {
    expect(counterDelta(null, { handleId: 'h1', value: 42n })).toBe(42n);
  });

  it('sums to the usage across a restart in a sequence', () => {
    const readings = [
      { handleId: 'h1', value: 100n },
      { handleId: 'h1', value: 250n },
      { handleId: 'h1', value: 40n }, // container restarted: counter from zero
      { handleId: 'h1', value: 90n },
      { handleId: 'h2', value: 10n }, // replaced by a new container
    ];
    const deltas = counterDeltas({ handleId: 'h1', value: 60n }, readings);
    expect(deltas).toEqual([40n, 150n, 40n, 50n, 10n]);
  });

  it('skips readings the agent could not take, comparing with the last one it did take', () => {
    const readings = [
      { handleId: 'h1', value: 100n },
      { handleId: 'h1', value: null },
      { handleId: 'h1', value: 180n },
      { handleId: 'h2', value: null },
      { handleId: 'h2', value: 5n },
    ];
    expect(counterDeltas(null, readings)).toEqual([100n, 0n, 80n, 0n, 5n]);
    expect(counterDeltas({ handleId: 'h1', value: 90n }, readings).reduce((a, b) => a + b, 0n)).toBe(95n);
  });
});
