import { rfc3339ToNs } from '@gureum/contracts';
import { z } from 'zod';

const flag = (what: string) =>
  z
    .enum(['true', 'false'], { message: `${what} must be true or false` })
    .default('false')
    .transform((value) => value === 'true');

/**
 * `GET /v1/workloads/{id}/logs` query. `since` is an RFC 3339 timestamp or Unix seconds
 * (fractions allowed), as the Docker Engine API takes it; it becomes nanoseconds since the
 * epoch (a decimal string, too large for a JavaScript number).
 */
export const ContainerLogsQuerySchema = z
  .object({
    /** `true`: keep the response open and stream new lines until the container exits or the client goes. */
    follow: flag('follow'),
    /** `true`: each line carries the engine's RFC 3339 timestamp (nanoseconds) after its stream name. */
    timestamps: flag('timestamps'),
    /** Only the last `tail` lines (before following). */
    tail: z.coerce.number().int().min(0).max(100_000).optional(),
    /** Only lines written at or after this time: RFC 3339, or Unix seconds. */
    since: z
      .string()
      .max(40)
      .transform((value, context) => {
        const ns = /^\d{1,12}(\.\d{1,9})?$/.test(value) ? unixSecondsToNs(value) : rfc3339ToNs(value);
        if (ns === null || ns < 0n) {
          context.addIssue({ code: 'custom', message: 'since must be an RFC 3339 timestamp (2026-12-08T04:40:00Z) or Unix seconds (1796704800.5)' });
          return z.NEVER;
        }
        return ns.toString();
      })
      .optional(),
  })
  .strict();
export type ContainerLogsQuery = z.output<typeof ContainerLogsQuerySchema>;

function unixSecondsToNs(value: string): bigint {
  const [seconds, fraction = ''] = value.split('.');
  return BigInt(seconds!) * 1_000_000_000n + BigInt(fraction.padEnd(9, '0'));
}
