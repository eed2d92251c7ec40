import { z } from 'zod';

/**
 * VM templates as OCI artifacts: one registry serves container images and VM templates.
 * A template is an OCI image manifest (v1.1 artifact form):
 *
 *   { schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
 *     artifactType: VM_TEMPLATE_ARTIFACT_TYPE,
 *     config: { mediaType: VM_TEMPLATE_CONFIG_MEDIA_TYPE, digest, size },   // VmTemplateConfig JSON
 *     layers: [ { mediaType: VM_KERNEL_MEDIA_TYPE, …, annotations: { "org.opencontainers.image.title": "vmlinuz" } },
 *               { mediaType: VM_INITRD_MEDIA_TYPE, … }, { mediaType: VM_DISK_QCOW2_MEDIA_TYPE, … } ] }
 *
 * Layers are the raw files (not tar archives, not compressed by the registry): a kernel
 * (bzImage), an initrd (any compression the kernel reads) and a qcow2 disk. `bootMode`
 * `kernel` needs a kernel layer (initrd and disk optional: direct kernel boot); `disk` needs
 * a disk layer and no kernel (the disk's own boot loader). At most one layer of each type.
 */

export const VM_TEMPLATE_ARTIFACT_TYPE = 'application/vnd.gureum.vm.template.v1';
export const VM_TEMPLATE_CONFIG_MEDIA_TYPE = 'application/vnd.gureum.vm.template.config.v1+json';
export const VM_KERNEL_MEDIA_TYPE = 'application/vnd.gureum.vm.kernel';
export const VM_INITRD_MEDIA_TYPE = 'application/vnd.gureum.vm.initrd';
export const VM_DISK_QCOW2_MEDIA_TYPE = 'application/vnd.gureum.vm.disk.qcow2';
export const OCI_IMAGE_MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';
/** Annotation naming a layer's file (OCI's standard title annotation). */
export const OCI_TITLE_ANNOTATION = 'org.opencontainers.image.title';

export const VM_TEMPLATE_LAYER_MEDIA_TYPES = [VM_KERNEL_MEDIA_TYPE, VM_INITRD_MEDIA_TYPE, VM_DISK_QCOW2_MEDIA_TYPE] as const;
export type VmTemplateLayerMediaType = (typeof VM_TEMPLATE_LAYER_MEDIA_TYPES)[number];

/** The config blob of a template. */
export const VmTemplateConfigSchema = z
  .object({
    /** Guest architecture (QEMU's naming). */
    arch: z.enum(['x86_64', 'aarch64']),
    /** The least the guest needs; a VM spec asking for less is refused. */
    vcpusMin: z.number().int().min(1).max(256),
    memoryMiBMin: z.number().int().min(16).max(4 * 1024 * 1024),
    bootMode: z.enum(['kernel', 'disk']),
    /** Kernel command line for `bootMode: kernel` (ignored for `disk`). */
    cmdline: z.string().max(4096),
  })
  .strict();
export type VmTemplateConfig = z.infer<typeof VmTemplateConfigSchema>;

const DigestString = z.string().regex(/^sha256:[a-f0-9]{64}$/, 'must be a sha256 digest');

export const VmTemplateDescriptorSchema = z.object({
  mediaType: z.string(),
  digest: DigestString,
  size: z.number().int().nonnegative(),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type VmTemplateDescriptor = z.infer<typeof VmTemplateDescriptorSchema>;

export const VmTemplateManifestSchema = z
  .object({
    schemaVersion: z.literal(2),
    mediaType: z.literal(OCI_IMAGE_MANIFEST_MEDIA_TYPE),
    artifactType: z.literal(VM_TEMPLATE_ARTIFACT_TYPE),
    config: VmTemplateDescriptorSchema.extend({ mediaType: z.literal(VM_TEMPLATE_CONFIG_MEDIA_TYPE) }),
    layers: z.array(VmTemplateDescriptorSchema.extend({ mediaType: z.enum(VM_TEMPLATE_LAYER_MEDIA_TYPES) })).min(1).max(3),
    subject: VmTemplateDescriptorSchema.optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  })
  .superRefine((manifest, context) => {
    const count = (type: string) => manifest.layers.filter((layer) => layer.mediaType === type).length;
    for (const type of VM_TEMPLATE_LAYER_MEDIA_TYPES) {
      if (count(type) > 1) context.addIssue({ code: 'custom', path: ['layers'], message: `at most one ${type} layer` });
    }
  });
export type VmTemplateManifest = z.infer<typeof VmTemplateManifestSchema>;

/** Checks that a config and a manifest's layers agree (`bootMode` needs its layer); returns the problem or null. */
export function vmTemplateProblem(config: VmTemplateConfig, layers: ReadonlyArray<{ mediaType: string }>): string | null {
  const has = (type: string) => layers.some((layer) => layer.mediaType === type);
  if (config.bootMode === 'kernel' && !has(VM_KERNEL_MEDIA_TYPE)) return 'bootMode kernel needs a kernel layer';
  if (config.bootMode === 'disk' && !has(VM_DISK_QCOW2_MEDIA_TYPE)) return 'bootMode disk needs a disk layer';
  if (config.bootMode === 'disk' && has(VM_KERNEL_MEDIA_TYPE)) return 'bootMode disk cannot have a kernel layer';
  return null;
}
