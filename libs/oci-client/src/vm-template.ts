import { chmod, link, mkdir, readFile, rename, rm, stat, writeFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import {
  OCI_IMAGE_MANIFEST_MEDIA_TYPE,
  OCI_TITLE_ANNOTATION,
  VM_DISK_QCOW2_MEDIA_TYPE,
  VM_INITRD_MEDIA_TYPE,
  VM_KERNEL_MEDIA_TYPE,
  VM_TEMPLATE_ARTIFACT_TYPE,
  VM_TEMPLATE_CONFIG_MEDIA_TYPE,
  VmTemplateConfigSchema,
  VmTemplateManifestSchema,
  vmTemplateProblem,
  type VmTemplateConfig,
  type VmTemplateManifest,
} from '@gureum/contracts';
import { parseImageReference } from './reference';
import { digestFile, OciClientError, OciRegistryClient, sha256Of, type RegistryAuth } from './registry-client';

/** The files of a template as pushed: paths on disk. */
export interface VmTemplateFiles {
  kernel?: string;
  initrd?: string;
  disk?: string;
}

/** A template on local disk after `pullVmTemplate`: read-only files (use the disk as a qcow2 backing file, never write it). */
export interface PulledVmTemplate {
  /** Manifest digest: the template's identity. */
  digest: string;
  config: VmTemplateConfig;
  /**
   * Directory holding `vmlinuz`, `initrd`, `disk.qcow2` (those the template has), `manifest.json`
   * and `template.json` — which has the VM driver's fields (`kernel`, `initrd`, `disk`, `cmdline`),
   * so the directory can be linked into the driver's template root as it is.
   */
  dir: string;
  kernel: string | null;
  initrd: string | null;
  disk: string | null;
  /** Whether everything came from the local cache. */
  cached: boolean;
}

const FILE_NAMES: Record<string, string> = {
  [VM_KERNEL_MEDIA_TYPE]: 'vmlinuz',
  [VM_INITRD_MEDIA_TYPE]: 'initrd',
  [VM_DISK_QCOW2_MEDIA_TYPE]: 'disk.qcow2',
};

/**
 * Pushes a VM template (config + kernel/initrd/disk files) as an OCI artifact to
 * `ref` (`host:port/<tenant>/<repo>[:tag]`). Files stream from disk; blobs the repository
 * already holds are not sent again. Returns the manifest digest.
 */
export async function pushVmTemplate(
  ref: string,
  auth: RegistryAuth,
  template: { config: VmTemplateConfig; files: VmTemplateFiles; annotations?: Record<string, string> },
): Promise<{ digest: string; manifest: VmTemplateManifest; repository: string; reference: string }> {
  const config = VmTemplateConfigSchema.parse(template.config);
  const target = parseImageReference(ref);
  const client = new OciRegistryClient(target.baseUrl, auth);
  const layers: VmTemplateManifest['layers'] = [];
  const entries: Array<[keyof VmTemplateFiles, (typeof layers)[number]['mediaType']]> = [
    ['kernel', VM_KERNEL_MEDIA_TYPE],
    ['initrd', VM_INITRD_MEDIA_TYPE],
    ['disk', VM_DISK_QCOW2_MEDIA_TYPE],
  ];
  for (const [key, mediaType] of entries) {
    const path = template.files[key];
    if (!path) continue;
    const described = await digestFile(path);
    await client.pushBlob(target.repository, { path }, described);
    layers.push({ mediaType, digest: described.digest, size: described.size, annotations: { [OCI_TITLE_ANNOTATION]: FILE_NAMES[mediaType] as string } });
  }
  const problem = vmTemplateProblem(config, layers);
  if (problem) throw new OciClientError(`invalid VM template: ${problem}`);
  const configBytes = Buffer.from(JSON.stringify(config));
  const configBlob = await client.pushBlob(target.repository, { bytes: configBytes });
  const manifest: VmTemplateManifest = VmTemplateManifestSchema.parse({
    schemaVersion: 2,
    mediaType: OCI_IMAGE_MANIFEST_MEDIA_TYPE,
    artifactType: VM_TEMPLATE_ARTIFACT_TYPE,
    config: { mediaType: VM_TEMPLATE_CONFIG_MEDIA_TYPE, digest: configBlob.digest, size: configBlob.size },
    layers,
    ...(template.annotations ? { annotations: template.annotations } : {}),
  });
  const bytes = Buffer.from(JSON.stringify(manifest));
  const digest = await client.pushManifest(target.repository, target.reference, bytes, OCI_IMAGE_MANIFEST_MEDIA_TYPE);
  return { digest, manifest, repository: target.repository, reference: target.reference };
}

/**
 * Fetches the VM template `ref` (`host:port/<tenant>/<repo>:tag` or `…@sha256:…`) into
 * `cacheDir` and returns where its files are. Layers are content-addressed under
 * `cacheDir/blobs/sha256/`, each streamed to disk and verified against its digest before it
 * is kept; a template (by manifest digest) is assembled once under `cacheDir/templates/`
 * and served from there afterwards; the manifest is fetched from the named repository every
 * time (the authorisation check: a cached template is never handed out on its digest alone).
 * Authentication follows the registry's 401 challenge (see `RegistryAuth`).
 */
export async function pullVmTemplate(ref: string, auth: RegistryAuth, cacheDir: string): Promise<PulledVmTemplate> {
  const source = parseImageReference(ref);
  // Always ask the registry first, also for a digest whose template is cached: the cache is
  // shared by every tenant on the host, and only the registry knows whether *this* repository
  // holds that digest and whether `auth` may pull it (a digest is not a secret). The manifest
  // GET is the authorisation; the layers it lists are linked into the same repository.
  const client = new OciRegistryClient(source.baseUrl, auth);
  const fetched = await client.getManifest(source.repository, source.reference, [OCI_IMAGE_MANIFEST_MEDIA_TYPE]);
  const cached = await readCached(cacheDir, fetched.digest);
  if (cached) return cached;

  let manifest: VmTemplateManifest;
  try {
    manifest = VmTemplateManifestSchema.parse(JSON.parse(fetched.bytes.toString('utf8')));
  } catch (error) {
    throw new OciClientError(`${ref} is not a VM template (${VM_TEMPLATE_ARTIFACT_TYPE}): ${error instanceof Error ? error.message : String(error)}`);
  }
  const configChunks: Buffer[] = [];
  await client.pullBlob(
    source.repository,
    manifest.config.digest,
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        configChunks.push(chunk);
        callback();
      },
    }),
    manifest.config.size,
  );
  const config = VmTemplateConfigSchema.parse(JSON.parse(Buffer.concat(configChunks).toString('utf8')));
  const problem = vmTemplateProblem(config, manifest.layers);
  if (problem) throw new OciClientError(`invalid VM template ${ref}: ${problem}`);

  const blobDir = join(cacheDir, 'blobs', 'sha256');
  await mkdir(blobDir, { recursive: true });
  for (const layer of manifest.layers) {
    const path = join(blobDir, layer.digest.slice('sha256:'.length));
    await client.pullBlobToFile(source.repository, layer.digest, path, layer.size);
    await chmod(path, 0o444);
  }

  const hex = fetched.digest.slice('sha256:'.length);
  const templates = join(cacheDir, 'templates');
  const partial = join(templates, `${hex}.partial-${process.pid}-${Date.now()}`);
  await mkdir(partial, { recursive: true });
  try {
    const files: Record<string, string> = {};
    for (const layer of manifest.layers) {
      const name = FILE_NAMES[layer.mediaType] as string;
      await linkOrCopy(join(blobDir, layer.digest.slice('sha256:'.length)), join(partial, name));
      files[layer.mediaType] = name;
    }
    await writeFile(join(partial, 'manifest.json'), fetched.bytes);
    // The VM driver's template.json fields (kernel, initrd, disk, cmdline: file names in the
    // directory), so a pulled template directory is a driver template as it is.
    const driverFields = {
      ...(files[VM_KERNEL_MEDIA_TYPE] ? { kernel: files[VM_KERNEL_MEDIA_TYPE] } : {}),
      ...(files[VM_INITRD_MEDIA_TYPE] ? { initrd: files[VM_INITRD_MEDIA_TYPE] } : {}),
      ...(files[VM_DISK_QCOW2_MEDIA_TYPE] ? { disk: files[VM_DISK_QCOW2_MEDIA_TYPE] } : {}),
      cmdline: config.cmdline,
    };
    await writeFile(join(partial, 'template.json'), JSON.stringify({ ...driverFields, digest: fetched.digest, source: ref, config, files }));
    await rename(partial, join(templates, hex)).catch(async (error: unknown) => {
      // Another pull of the same template finished first: theirs is identical.
      if (!(await exists(join(templates, hex, 'template.json')))) throw error;
      await rm(partial, { recursive: true, force: true });
    });
  } catch (error) {
    await rm(partial, { recursive: true, force: true });
    throw error;
  }
  const result = await readCached(cacheDir, fetched.digest);
  if (!result) throw new OciClientError(`template ${fetched.digest} vanished from the cache`);
  return { ...result, cached: false };
}

async function readCached(cacheDir: string, digest: string): Promise<PulledVmTemplate | null> {
  const dir = join(cacheDir, 'templates', digest.slice('sha256:'.length));
  let text: string;
  try {
    text = await readFile(join(dir, 'template.json'), 'utf8');
  } catch {
    return null;
  }
  // The manifest is re-checked against its digest, so a damaged cache entry is refetched.
  const manifestBytes = await readFile(join(dir, 'manifest.json')).catch(() => null);
  if (!manifestBytes || sha256Of(manifestBytes) !== digest) return null;
  const stored = JSON.parse(text) as { config: unknown; files: Record<string, string> };
  const file = (mediaType: string) => (stored.files[mediaType] ? join(dir, stored.files[mediaType] as string) : null);
  return {
    digest,
    config: VmTemplateConfigSchema.parse(stored.config),
    dir,
    kernel: file(VM_KERNEL_MEDIA_TYPE),
    initrd: file(VM_INITRD_MEDIA_TYPE),
    disk: file(VM_DISK_QCOW2_MEDIA_TYPE),
    cached: true,
  };
}

async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch {
    await copyFile(from, to);
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
