import { NodeIdSchema } from '@gureum/contracts';
import { z } from 'zod';

export const HostPathSchema = z.object({ id: NodeIdSchema }).strict();
export type HostPath = z.output<typeof HostPathSchema>;

export const CreateJoinTokenBodySchema = z
  .object({
    /** Pin the token to one node id; otherwise the agent names itself when it enrols. */
    nodeId: NodeIdSchema.optional(),
    ttlSeconds: z.number().int().min(60).max(7 * 24 * 3600).default(3600),
  })
  .strict();
export type CreateJoinTokenBody = z.output<typeof CreateJoinTokenBodySchema>;
