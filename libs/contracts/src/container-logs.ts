import { z } from 'zod';

/**
 * Container logs, served by the agent that runs the container on
 * `agent.<nodeId>.cmd.container.logs.v1`. The api reads them in chunks, like a VM's console:
 * each reply stays far below NATS's 1 MiB message limit, and a `cursor` says where the next
 * read goes on. A cursor is the engine's timestamp of the last entry sent (nanoseconds since
 * the epoch, as a decimal string: JavaScript numbers cannot hold them) and how many entries
 * of exactly that timestamp were sent, since the engine's `since` is inclusive.
 */

export const LogCursorSchema = z
  .object({
    sinceNs: z.string().regex(/^\d{1,25}$/, 'must be nanoseconds since the epoch'),
    skip: z.number().int().nonnegative().max(100_000),
  })
  .strict();
export type LogCursor = z.infer<typeof LogCursorSchema>;

export const ContainerLogsRequestSchema = z
  .object({
    workloadId: z.uuid(),
    /** The tenant the control plane says owns the workload; the agent serves only a container of that tenant. */
    tenantId: z.uuid(),
    /** Where to go on from (a previous reply's cursor); absent on the first read. */
    cursor: LogCursorSchema.optional(),
    /** First read only: the last `tail` entries. */
    tail: z.number().int().nonnegative().max(100_000).optional(),
    /** At most this many bytes of log text come back (base64 adds a third on the wire). */
    maxBytes: z.number().int().min(1).max(262_144).default(131_072),
  })
  .strict();

export const ContainerLogEntrySchema = z.object({
  stream: z.enum(['stdout', 'stderr']),
  /** The engine's timestamp, RFC 3339 with nanoseconds. */
  time: z.string().max(64),
  /** The bytes the container wrote, base64 (output is not guaranteed to be UTF-8). */
  data: z.string(),
});
export type ContainerLogEntry = z.infer<typeof ContainerLogEntrySchema>;

export const ContainerLogChunkSchema = z.object({
  entries: z.array(ContainerLogEntrySchema),
  /** Pass back to read what follows; unchanged when nothing new was there. */
  cursor: LogCursorSchema.nullable(),
  /** Entries were left out to keep the reply small: read again at once. */
  more: z.boolean(),
  /** Whether the container still runs: a follower stops once this is false and nothing is left. */
  running: z.boolean(),
});
export type ContainerLogChunk = z.infer<typeof ContainerLogChunkSchema>;

/** `2026-12-08T04:40:00.123456789Z` → nanoseconds since the epoch; null when it is not such a timestamp. */
export function rfc3339ToNs(time: string): bigint | null {
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(time);
  if (!match) return null;
  const ms = Date.parse(`${match[1]}${match[3]}`);
  if (!Number.isFinite(ms)) return null;
  return BigInt(ms) * 1_000_000n + BigInt((match[2] ?? '').padEnd(9, '0'));
}
