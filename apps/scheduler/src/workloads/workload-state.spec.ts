import { WORKLOAD_STATES, type WorkloadState } from '@gureum/contracts';
import { ALLOWED_TRANSITIONS, assertTransition, canTransition } from './workload-state';

describe('workload state machine', () => {
  // The full table, spelled out once more: changing an edge must be a deliberate edit here too.
  const expected: Record<WorkloadState, WorkloadState[]> = {
    pending: ['scheduled', 'stopped', 'deleted'],
    scheduled: ['starting', 'running', 'stopping', 'stopped', 'failed', 'unknown', 'lost', 'pending'],
    starting: ['running', 'stopping', 'stopped', 'failed', 'unknown', 'lost', 'pending'],
    running: ['starting', 'paused', 'stopping', 'stopped', 'failed', 'unknown', 'lost', 'migrating', 'pending'],
    paused: ['running', 'starting', 'stopping', 'stopped', 'failed', 'unknown', 'lost', 'pending'],
    stopping: ['stopped', 'lost', 'deleted'],
    stopped: ['pending', 'starting', 'stopping', 'deleted'],
    failed: ['pending', 'starting', 'stopping', 'deleted'],
    // Silent host within the grace window: only the agent's report or the window's end moves
    // it, and never straight to pending — it keeps its placement (issue 21).
    unknown: ['starting', 'running', 'paused', 'stopping', 'stopped', 'failed', 'lost'],
    lost: ['starting', 'running', 'paused', 'stopping', 'stopped', 'failed', 'deleted', 'pending'],
    migrating: ['running', 'failed', 'lost'],
    deleted: [],
  };

  it.each(WORKLOAD_STATES.flatMap((from) => WORKLOAD_STATES.map((to) => [from, to] as const)))('%s → %s', (from, to) => {
    const allowed = expected[from].includes(to);
    expect(canTransition(from, to)).toBe(allowed);
    if (allowed) expect(() => assertTransition(from, to)).not.toThrow();
    else expect(() => assertTransition(from, to)).toThrow(expect.objectContaining({ code: 'invalid_state' }));
  });

  it('covers every contract state and no self-loops', () => {
    expect(Object.keys(ALLOWED_TRANSITIONS).sort()).toEqual([...WORKLOAD_STATES].sort());
    for (const state of WORKLOAD_STATES) expect(ALLOWED_TRANSITIONS[state]).not.toContain(state);
  });

  it('follows the design path pending → scheduled → starting → running ⇄ paused, running → stopping → stopped', () => {
    const path: WorkloadState[] = ['pending', 'scheduled', 'starting', 'running', 'paused', 'running', 'stopping', 'stopped'];
    for (let i = 1; i < path.length; i += 1) expect(canTransition(path[i - 1]!, path[i]!)).toBe(true);
  });

  it('keeps an unknown workload on its host: it is never re-placed before its host is declared lost', () => {
    expect(canTransition('unknown', 'pending')).toBe(false);
    expect(canTransition('unknown', 'lost')).toBe(true);
    expect(canTransition('lost', 'pending')).toBe(true);
  });

  it('never leaves deleted and only reaches it from states without a live task', () => {
    expect(ALLOWED_TRANSITIONS.deleted).toEqual([]);
    const intoDeleted = WORKLOAD_STATES.filter((from) => canTransition(from, 'deleted'));
    expect(intoDeleted.sort()).toEqual(['failed', 'lost', 'pending', 'stopped', 'stopping']);
  });
});
