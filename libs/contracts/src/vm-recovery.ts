/**
 * Asking an agent whether it runs a VM, for the scheduler's recovery of migrations a crash
 * interrupted (a workload left `migrating` with its `migration_claims` row).
 */
import { z } from 'zod';

export const VmStatusRequestSchema = z.object({ workloadId: z.uuid() }).strict();

export const VmStatusReplySchema = z.object({
  /** The agent has this VM (a record and, when running, a QEMU process). */
  present: z.boolean(),
  /** The driver's view (`running`, `paused`, `exited`, ...), null when absent. */
  state: z.string().nullable(),
  /** It arrived (or is arriving) by a migration whose assignment has not come yet. */
  incoming: z.boolean(),
});
export type VmStatusReply = z.infer<typeof VmStatusReplySchema>;
