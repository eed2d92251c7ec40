import { z } from 'zod';

/**
 * The authenticated caller, attached by the api to every tenant command. Services reject
 * commands without it and re-check that every object they touch belongs to `tenantId`.
 */
export const CallerSchema = z
  .object({
    principalId: z.string().min(1).max(128),
    tenantId: z.uuid(),
    role: z.enum(['owner', 'member', 'viewer']),
    requestId: z.string().min(1).max(128),
  })
  .strict();
export type Caller = z.infer<typeof CallerSchema>;
