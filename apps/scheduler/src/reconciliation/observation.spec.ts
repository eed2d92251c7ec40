import type { ObservedTask } from '@gureum/contracts';
import { interpretObservation, type WorkloadStatus } from './observation';

const WORKLOAD_ID = '0b6f3c56-2b53-4a43-9f0e-6f3f0f0c9a01';

function task(overrides: Partial<ObservedTask>): ObservedTask {
  return {
    workloadId: WORKLOAD_ID,
    generation: 1,
    handleId: 'c0ffee',
    state: 'running',
    exitCode: null,
    oomKilled: false,
    startedAt: null,
    finishedAt: null,
    error: null,
    ...overrides,
  };
}

function workload(overrides: Partial<WorkloadStatus>): WorkloadStatus {
  return { state: 'scheduled', desiredState: 'running', generation: 1, reason: null, exitCode: null, ...overrides };
}

describe('interpretObservation, desired running', () => {
  it.each([
    ['created', 'starting'],
    ['absent', 'starting'],
    ['running', 'running'],
  ] as const)('%s → %s', (observed, to) => {
    expect(interpretObservation(workload({}), task({ state: observed }))).toEqual({ kind: 'change', to, reason: null, exitCode: null, releaseClaim: false });
  });

  it('an OOM kill fails the workload with reason oom_killed and the exit code', () => {
    expect(interpretObservation(workload({ state: 'running' }), task({ state: 'exited', exitCode: 137, oomKilled: true }))).toEqual({
      kind: 'change',
      to: 'failed',
      reason: 'oom_killed',
      exitCode: 137,
      releaseClaim: false,
    });
  });

  it('exit code 0 means completed, any other code means failed', () => {
    expect(interpretObservation(workload({ state: 'running' }), task({ state: 'exited', exitCode: 0 }))).toMatchObject({ to: 'stopped', reason: 'completed', exitCode: 0 });
    expect(interpretObservation(workload({ state: 'running' }), task({ state: 'exited', exitCode: 3 }))).toMatchObject({ to: 'failed', reason: 'exited', exitCode: 3 });
  });

  it('a driver error fails the workload with the error code as reason', () => {
    const observed = task({ state: 'error', error: { code: 'image_not_found', message: 'no such image' } });
    expect(interpretObservation(workload({ state: 'starting' }), observed)).toMatchObject({ kind: 'change', to: 'failed', reason: 'image_not_found' });
  });

  it('is idempotent: the same observation twice changes nothing the second time', () => {
    expect(interpretObservation(workload({ state: 'running' }), task({ state: 'running' }))).toEqual({ kind: 'ignore', why: 'no_change' });
    expect(interpretObservation(workload({ state: 'failed', reason: 'exited', exitCode: 3 }), task({ state: 'exited', exitCode: 3 }))).toEqual({
      kind: 'ignore',
      why: 'generation_finished',
    });
  });

  it('does not revive a generation whose run ended', () => {
    expect(interpretObservation(workload({ state: 'stopped', reason: 'completed', exitCode: 0 }), task({ state: 'absent' }))).toEqual({
      kind: 'ignore',
      why: 'generation_finished',
    });
    expect(interpretObservation(workload({ state: 'failed', reason: 'oom_killed' }), task({ state: 'running' }))).toMatchObject({ kind: 'ignore' });
  });

  it('ignores reports of an older generation and of a generation it never issued', () => {
    const current = workload({ state: 'starting', generation: 2 });
    expect(interpretObservation(current, task({ generation: 1, state: 'exited', exitCode: 0 }))).toEqual({ kind: 'ignore', why: 'stale_generation' });
    expect(interpretObservation(current, task({ generation: 3 }))).toEqual({ kind: 'ignore', why: 'unknown_generation' });
    expect(interpretObservation(current, task({ generation: 2 }))).toMatchObject({ kind: 'change', to: 'running' });
  });

  it('believes a host that comes back after being declared lost', () => {
    expect(interpretObservation(workload({ state: 'lost', reason: 'host_lost' }), task({ state: 'running' }))).toMatchObject({ kind: 'change', to: 'running', reason: null });
  });

  it('a task that vanished from a running workload goes back to starting', () => {
    expect(interpretObservation(workload({ state: 'running' }), task({ state: 'absent' }))).toMatchObject({ kind: 'change', to: 'starting' });
  });
});

describe('interpretObservation, desired stopped', () => {
  const stopping = workload({ state: 'stopping', desiredState: 'stopped' });

  it.each(['exited', 'absent', 'created'] as const)('%s → stopped', (observed) => {
    expect(interpretObservation(stopping, task({ state: observed, exitCode: observed === 'exited' ? 137 : null }))).toMatchObject({
      kind: 'change',
      to: 'stopped',
      exitCode: observed === 'exited' ? 137 : null,
    });
  });

  it('keeps stopping while the task still runs', () => {
    expect(interpretObservation(stopping, task({ state: 'running' }))).toEqual({ kind: 'ignore', why: 'no_change' });
  });

  it('keeps the exit code it knows when the stopped task is later removed', () => {
    const stopped = workload({ state: 'stopped', desiredState: 'stopped', exitCode: 137 });
    expect(interpretObservation(stopped, task({ state: 'absent' }))).toEqual({ kind: 'ignore', why: 'no_change' });
  });
});

describe('interpretObservation, desired deleted', () => {
  const deleting = workload({ state: 'stopping', desiredState: 'deleted', generation: 4 });

  it('absent → deleted and releases the claim, even from an older generation', () => {
    expect(interpretObservation(deleting, task({ state: 'absent', generation: 4 }))).toEqual({ kind: 'change', to: 'deleted', reason: null, exitCode: null, releaseClaim: true });
    expect(interpretObservation(deleting, task({ state: 'absent', generation: 1 }))).toMatchObject({ kind: 'change', to: 'deleted', releaseClaim: true });
  });

  it.each(['running', 'exited', 'created', 'paused', 'error'] as const)('%s keeps it stopping', (observed) => {
    expect(interpretObservation(deleting, task({ state: observed, generation: 4 }))).toEqual({ kind: 'ignore', why: 'no_change' });
  });
});

describe('interpretObservation while migrating', () => {
  it.each(['running', 'paused', 'exited', 'absent', 'error'] as const)('ignores %s: the migration owns the state until it ends', (observed) => {
    expect(interpretObservation(workload({ state: 'migrating' }), task({ state: observed, exitCode: observed === 'exited' ? 0 : null }))).toEqual({
      kind: 'ignore',
      why: 'migrating',
    });
  });
});
