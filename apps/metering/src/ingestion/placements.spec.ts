import { checkPlacement, placements, type PlacementFact } from './placements';

const T = '00000000-0000-4000-8000-000000000001';
const OTHER = '00000000-0000-4000-8000-000000000002';
const fact = (to: string, at: number, hostId: string | null, tenantId = T): PlacementFact => ({ tenantId, hostId, to, at });
const options = { slackMs: 1000 };

describe('placements', () => {
  it('opens on a host, keeps it through unknown and repeated states, closes on another host, no host or a state without a task', () => {
    expect(
      placements([
        fact('scheduled', 0, 'a'),
        fact('running', 10, 'a'),
        fact('unknown', 20, 'a'),
        fact('running', 30, 'a'),
        fact('pending', 40, null),
        fact('scheduled', 50, 'b'),
        fact('running', 60, 'b'),
        fact('stopped', 70, 'b'),
        fact('starting', 80, 'b'),
        fact('migrating', 90, 'b'),
        fact('running', 100, 'c'),
        fact('deleted', 110, 'c'),
      ]),
    ).toEqual([
      { hostId: 'a', from: 0, to: 40 },
      { hostId: 'b', from: 50, to: 70 },
      { hostId: 'b', from: 80, to: 100 },
      { hostId: 'c', from: 100, to: 110 },
    ]);
  });
});

describe('checkPlacement', () => {
  const history = [fact('scheduled', 10_000, 'a'), fact('running', 11_000, 'a'), fact('pending', 20_000, null), fact('scheduled', 21_000, 'b')];

  it('accepts the node the workload was on at the sample time, within the slack at both ends', () => {
    expect(checkPlacement(history, 'a', T, 15_000, options)).toEqual({ kind: 'accept' });
    expect(checkPlacement(history, 'a', T, 9_000, options)).toEqual({ kind: 'accept' });
    expect(checkPlacement(history, 'a', T, 21_000, options)).toEqual({ kind: 'accept' });
    expect(checkPlacement(history, 'b', T, 60_000, options)).toEqual({ kind: 'accept' });
  });

  it('refuses another tenant, and a node the known history does not place the workload on at that time', () => {
    expect(checkPlacement(history, 'a', OTHER, 15_000, options)).toEqual({ kind: 'reject', reason: 'tenant_mismatch' });
    expect(checkPlacement(history, 'b', T, 15_000, options)).toEqual({ kind: 'reject', reason: 'not_placed_on_node' });
    expect(checkPlacement(history, 'a', T, 8_000, options)).toEqual({ kind: 'reject', reason: 'not_placed_on_node' });
  });

  it('holds what a later fact could still decide: an unknown workload, or a sample after everything known', () => {
    expect(checkPlacement([], 'a', T, 15_000, options)).toEqual({ kind: 'hold', reason: 'unknown_workload' });
    expect(checkPlacement(history, 'a', T, 60_000, options)).toEqual({ kind: 'hold', reason: 'not_placed_yet' });
  });
});
