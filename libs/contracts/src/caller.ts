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

/**
 * A platform operator acting on a tenant (suspend, resume): no tenant of its own. Separate
 * from CallerSchema so every tenant command keeps requiring a tenant caller.
 */
export const OperatorCallerSchema = z
  .object({
    principalId: z.string().min(1).max(128),
    role: z.literal('operator'),
    requestId: z.string().min(1).max(128),
  })
  .strict();
export type OperatorCaller = z.infer<typeof OperatorCallerSchema>;
