import { z } from 'zod';

/**
 * The HTTP-only parts of the workload routes (path, query, headers). Bodies and replies are
 * the contract schemas themselves. The controller validates with these and the OpenAPI
 * document is generated from them, so the two cannot disagree.
 */

/** Checked before anything is sent, so a malformed id never costs a round trip to the scheduler. */
export const WorkloadPathSchema = z.object({ id: z.uuid({ message: 'must be a workload id (a UUID)' }) }).strict();
export type WorkloadPath = z.output<typeof WorkloadPathSchema>;

export const ListWorkloadsQuerySchema = z
  .object({
    limit: z.coerce.number().int().min(1).max(500).default(50),
    cursor: z.string().min(1).max(512).optional(),
  })
  .strict();
export type ListWorkloadsQuery = z.output<typeof ListWorkloadsQuerySchema>;

export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
export const IdempotencyKeySchema = z.string().min(1).max(255);
