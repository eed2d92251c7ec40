import { ErrorCode, GureumError, type WorkloadState } from '@gureum/contracts';

/** Same answer for "does not exist" and "belongs to another tenant": existence is not revealed. */
export function workloadNotFound(workloadId: string): GureumError {
  return new GureumError(ErrorCode.NotFound, `workload ${workloadId} not found`, { workloadId });
}

export function workloadInWrongState(workloadId: string, action: string, state: WorkloadState, detail?: string): GureumError {
  return new GureumError(ErrorCode.InvalidState, `cannot ${action} workload ${workloadId}: it is ${detail ?? state}`, { workloadId, state });
}
