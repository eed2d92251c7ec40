import { HOST_ACTIONS, HOST_STATES } from '@gureum/contracts';
import { hostStateAfter } from './host-state';

describe('host state machine', () => {
  const allowed: Record<string, string> = {
    'ready:cordon': 'cordoned',
    'cordoned:cordon': 'cordoned',
    'ready:uncordon': 'ready',
    'cordoned:uncordon': 'ready',
    'draining:uncordon': 'ready',
    'maintenance:uncordon': 'ready',
    'ready:drain': 'draining',
    'cordoned:drain': 'draining',
    'maintenance:drain': 'draining',
    'draining:drain': 'draining',
    'ready:maintenance': 'maintenance',
    'cordoned:maintenance': 'maintenance',
    'draining:maintenance': 'maintenance',
    'maintenance:maintenance': 'maintenance',
    'ready:decommission': 'decommissioned',
    'cordoned:decommission': 'decommissioned',
    'draining:decommission': 'decommissioned',
    'maintenance:decommission': 'decommissioned',
    'unreachable:decommission': 'decommissioned',
    'lost:decommission': 'decommissioned',
    'decommissioned:decommission': 'decommissioned',
  };

  it.each(HOST_STATES.flatMap((state) => HOST_ACTIONS.map((action) => [state, action] as const)))('%s + %s', (state, action) => {
    const expected = allowed[`${state}:${action}`];
    if (expected) expect(hostStateAfter('h1', state, action, 0)).toBe(expected);
    else expect(() => hostStateAfter('h1', state, action, 0)).toThrow(expect.objectContaining({ code: 'invalid_state' }));
  });

  it('decommissions only an empty host', () => {
    expect(() => hostStateAfter('h1', 'draining', 'decommission', 2)).toThrow(expect.objectContaining({ code: 'invalid_state', details: expect.objectContaining({ workloadCount: 2 }) }));
    expect(hostStateAfter('h1', 'draining', 'decommission', 0)).toBe('decommissioned');
  });
});
