import { ErrorCode, GureumError, type Caller } from '@gureum/contracts';

/**
 * The api authorises requests, but the scheduler owns the workloads: a viewer's key that
 * reaches a mutating command through a bug there must still be refused here.
 */
export function assertMayModify(caller: Caller): void {
  if (caller.role === 'viewer') {
    throw new GureumError(ErrorCode.Forbidden, 'the viewer role may read workloads but not change them', { role: caller.role });
  }
}
