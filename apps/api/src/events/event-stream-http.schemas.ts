import { z } from 'zod';

/** The longest a stream stays open: an access token lives 15 minutes, so a revoked session's stream cannot outlive it by much. */
export const MAX_STREAM_SECONDS = 900;

export const EventStreamQuerySchema = z
  .object({
    /** Close the stream after this many seconds (the client reconnects with Last-Event-ID and a fresh token). */
    maxSeconds: z.coerce.number().int().min(1).max(MAX_STREAM_SECONDS).default(MAX_STREAM_SECONDS),
  })
  .strict();
export type EventStreamQuery = z.output<typeof EventStreamQuerySchema>;
