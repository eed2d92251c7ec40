/**
 * Saving a VM snapshot as a template in the tenant's registry repository: the snapshot's disk
 * (flattened, without its backing chain) plus the VM's kernel and initrd, pushed as a VM
 * template artifact (see vm-template.ts) that new VMs can name as their `image`.
 */
import { z } from 'zod';
import { CallerSchema } from './caller';
import { ImageTagSchema, RegistryAuthSchema } from './image-access';
import { RepositoryNameSchema } from './registry';
import { SnapshotNameSchema } from './vm';

/** `POST /v1/workloads/{id}/snapshots/{name}/template` body. */
export const SaveSnapshotTemplateBodySchema = z
  .object({
    /** `<tenant>/<name>`: the tenant's own namespace only. */
    repository: RepositoryNameSchema,
    tag: ImageTagSchema.default('latest'),
  })
  .strict();
export type SaveSnapshotTemplateBody = z.infer<typeof SaveSnapshotTemplateBodySchema>;

/** api → scheduler. */
export const SaveSnapshotTemplateRequestSchema = z
  .object({
    caller: CallerSchema,
    workloadId: z.uuid(),
    name: SnapshotNameSchema,
    repository: RepositoryNameSchema,
    tag: ImageTagSchema,
  })
  .strict();

/** scheduler → the VM's agent: export snapshot `snapshot` and push it to `image` with `pushAuth`. */
export const AgentVmTemplateRequestSchema = z
  .object({
    workloadId: z.uuid(),
    snapshot: SnapshotNameSchema,
    /** The full reference to push, `<registry>/<repository>:<tag>`, in the registry `pushAuth` is for. */
    image: z.string().max(512),
    pushAuth: RegistryAuthSchema,
    /** A fresh pull token for the VM's own template when that lives in the registry (the assignment's may have expired). */
    templatePullAuth: RegistryAuthSchema.optional(),
  })
  .strict();

export const SavedVmTemplateSchema = z.object({
  /** The pushed reference, usable as a VM's `image`. */
  image: z.string(),
  /** The manifest digest the registry stored. */
  digest: z.string().regex(/^sha256:[a-f0-9]{64}$/),
  /** Size of the exported (flattened) qcow2 disk layer. */
  diskBytes: z.number().int().nonnegative(),
});
export type SavedVmTemplate = z.infer<typeof SavedVmTemplateSchema>;
