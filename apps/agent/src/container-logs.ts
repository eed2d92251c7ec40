import { ErrorCode, GureumError, type ReplyOf, type ValidRequestOf } from '@gureum/contracts';
import type { LoggingDriver, WorkloadDriver } from './driver';
import { toGureumError } from './image-commands';

/** The driver that can read a task's stdout and stderr (Docker). */
export function loggingDriverOf(drivers: readonly WorkloadDriver[]): (WorkloadDriver & LoggingDriver) | null {
  const found = drivers.find((driver) => typeof (driver as Partial<LoggingDriver>).logs === 'function');
  return (found as (WorkloadDriver & LoggingDriver) | undefined) ?? null;
}

/**
 * `agent.<id>.cmd.container.logs.v1`: a chunk of the workload's container log. The driver
 * serves only a container it created on this node for exactly that workload and tenant.
 */
export async function readContainerLogs(
  driver: LoggingDriver | null,
  nodeId: string,
  request: ValidRequestOf<'agent.*.cmd.container.logs.v1'>,
): Promise<ReplyOf<'agent.*.cmd.container.logs.v1'>> {
  if (!driver) throw new GureumError(ErrorCode.InvalidState, `node ${nodeId} runs no containers`);
  try {
    const logs = await driver.logs({
      workloadId: request.workloadId,
      tenantId: request.tenantId,
      nodeId,
      maxBytes: request.maxBytes,
      ...(request.cursor ? { cursor: { sinceNs: BigInt(request.cursor.sinceNs), skip: request.cursor.skip } } : {}),
      ...(request.tail !== undefined ? { tail: request.tail } : {}),
    });
    return {
      entries: logs.entries.map((entry) => ({ stream: entry.stream, time: entry.time, data: entry.data.toString('base64') })),
      cursor: logs.cursor ? { sinceNs: logs.cursor.sinceNs.toString(), skip: logs.cursor.skip } : null,
      more: logs.more,
      running: logs.running,
    };
  } catch (error) {
    throw toGureumError(error);
  }
}
