import { SnapshotNameSchema } from '@gureum/contracts';
import { z } from 'zod';

/** The HTTP-only parts of the VM routes. */
export const SnapshotPathSchema = z
  .object({ id: z.uuid({ message: 'must be a workload id (a UUID)' }), name: SnapshotNameSchema })
  .strict();
export type SnapshotPath = z.output<typeof SnapshotPathSchema>;

export const ConsoleQuerySchema = z
  .object({
    /** `true`: keep the response open and stream new console output until the VM stops or the client goes. */
    follow: z.enum(['true', 'false']).default('false').transform((value) => value === 'true'),
  })
  .strict();
export type ConsoleQuery = z.output<typeof ConsoleQuerySchema>;
