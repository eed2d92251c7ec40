import { ErrorCode, GureumError, type CommittedImage, type ValidRequestOf } from '@gureum/contracts';
import { DriverError, type CommittableDriver, type WorkloadDriver } from './driver';

/** The drivers that can commit a task's filesystem to an image (Docker). */
export function committableDriverOf(drivers: readonly WorkloadDriver[]): (WorkloadDriver & CommittableDriver) | null {
  const found = drivers.find((driver) => typeof (driver as Partial<CommittableDriver>).commit === 'function');
  return (found as (WorkloadDriver & CommittableDriver) | undefined) ?? null;
}

/** `agent.<id>.cmd.commit.v1`: commit the workload's container and push it. */
export async function commitWorkload(
  driver: CommittableDriver | null,
  nodeId: string,
  request: ValidRequestOf<'agent.*.cmd.commit.v1'>,
): Promise<CommittedImage> {
  if (!driver) throw new GureumError(ErrorCode.InvalidState, `node ${nodeId} has no driver that can commit containers`);
  try {
    return await driver.commit({ ...request, nodeId });
  } catch (error) {
    throw toGureumError(error);
  }
}

/** Driver failures as the control plane's error codes (what the tenant's problem+json says). */
export function toGureumError(error: unknown): GureumError {
  if (error instanceof GureumError) return error;
  if (!(error instanceof DriverError)) return new GureumError(ErrorCode.Internal, String(error));
  switch (error.code) {
    case 'task_not_found':
    case 'image_not_found':
      return new GureumError(ErrorCode.NotFound, error.message);
    case 'quota_exceeded':
      return new GureumError(ErrorCode.QuotaExceeded, error.message);
    case 'invalid_spec':
      return new GureumError(ErrorCode.ValidationFailed, error.message);
    case 'invalid_state':
    case 'task_not_running':
      return new GureumError(ErrorCode.InvalidState, error.message);
    case 'engine_unavailable':
    case 'image_pull_failed':
    case 'image_push_failed':
      return new GureumError(ErrorCode.Unavailable, error.message);
    default:
      return new GureumError(ErrorCode.Internal, error.message);
  }
}
