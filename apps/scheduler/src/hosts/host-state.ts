import { ErrorCode, GureumError, type HostAction } from '@gureum/contracts';
import type { HostState } from '../placement/placement';

/**
 * Which operator action is allowed from which host state, and where it leads. An action that
 * would not change anything (cordon a cordoned host) is allowed and returns the same state,
 * so operators' tooling can retry. `unreachable`, `lost` and `ready` are reached only automatically
 * (heartbeats), except that uncordon returns an operator state to `ready`.
 */
const ACTIONS: Readonly<Record<HostAction, { from: readonly HostState[]; to: HostState }>> = {
  cordon: { from: ['ready', 'cordoned'], to: 'cordoned' },
  uncordon: { from: ['ready', 'cordoned', 'draining', 'maintenance'], to: 'ready' },
  drain: { from: ['ready', 'cordoned', 'maintenance', 'draining'], to: 'draining' },
  maintenance: { from: ['ready', 'cordoned', 'draining', 'maintenance'], to: 'maintenance' },
  decommission: { from: ['ready', 'cordoned', 'draining', 'maintenance', 'unreachable', 'lost', 'decommissioned'], to: 'decommissioned' },
};

/** States a silent host becomes unreachable from (and later lost); maintenance expects silence, decommissioned is gone. */
export const LOSABLE_STATES: readonly HostState[] = ['ready', 'cordoned', 'draining'];

/**
 * The state `action` leads to from `current`, or a typed `invalid_state` error. Decommission
 * also needs the host to be empty: a host with workloads must be drained first.
 */
export function hostStateAfter(hostId: string, current: HostState, action: HostAction, workloadCount: number): HostState {
  const rule = ACTIONS[action];
  if (!rule.from.includes(current)) {
    throw new GureumError(ErrorCode.InvalidState, `host ${hostId} is ${current}; cannot ${action} it`, { hostId, state: current, action });
  }
  if (action === 'decommission' && current !== 'decommissioned' && workloadCount > 0) {
    throw new GureumError(ErrorCode.InvalidState, `host ${hostId} still has ${workloadCount} workload(s); drain it first`, {
      hostId,
      state: current,
      action,
      workloadCount,
    });
  }
  return rule.to;
}
