import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ErrorCode, GureumError, type SavedVmTemplate, type ValidRequestOf } from '@gureum/contracts';
import { OciClientError, pushVmTemplate } from '@gureum/oci-client';
import type { VmTemplate } from '../driver/vm/vm-launch';

export type PushVmTemplate = typeof pushVmTemplate;

/** What saving needs of the vm driver (`VmDriver.exportSnapshot`). */
export interface SnapshotExporter {
  exportSnapshot(handleId: string, name: string, outPath: string, templatePullAuth?: { registry: string; token: string }): Promise<{ template: VmTemplate; diskPath: string }>;
}

/**
 * `agent.<id>.cmd.vm.template.v1`: export the VM's snapshot (its disk flattened into one
 * qcow2) and push it, with the kernel and initrd the VM boots, as a VM template to the
 * reference the scheduler chose, with the one-repository push token it got for it.
 * The exported disk is a temporary file, removed whatever happens.
 */
export async function saveVmTemplate(
  exporter: SnapshotExporter,
  request: ValidRequestOf<'agent.*.cmd.vm.template.v1'>,
  options: { workDir?: string; push?: PushVmTemplate } = {},
): Promise<SavedVmTemplate> {
  const { workloadId, snapshot, image, pushAuth, templatePullAuth } = request;
  if (!image.startsWith(`${pushAuth.registry}/`)) {
    throw new GureumError(ErrorCode.ValidationFailed, `the push token is for ${pushAuth.registry}, not for ${image}`);
  }
  const dir = await mkdtemp(path.join(options.workDir ?? tmpdir(), 'gureum-vm-template-'));
  try {
    const exported = await exporter.exportSnapshot(workloadId.toLowerCase(), snapshot, path.join(dir, 'disk.qcow2'), templatePullAuth);
    const diskBytes = (await stat(exported.diskPath)).size;
    const push = options.push ?? pushVmTemplate;
    const pushed = await push(image, { token: pushAuth.token }, {
      config: { arch: 'x86_64', vcpusMin: 1, memoryMiBMin: 64, bootMode: 'kernel', cmdline: exported.template.cmdline },
      files: { kernel: exported.template.kernelPath, initrd: exported.template.initrdPath, disk: exported.diskPath },
      annotations: { 'io.gureum.vm.snapshot': snapshot, 'io.gureum.vm.source-template': exported.template.name },
    }).catch((error: unknown) => {
      throw pushFailure(error, image);
    });
    return { image, digest: pushed.digest, diskBytes };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The registry's storage quota refusing the push is the tenant's problem (403); anything else is unavailability. */
export function pushFailure(error: unknown, image: string): GureumError {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof OciClientError && /quota/i.test(message)) {
    return new GureumError(ErrorCode.QuotaExceeded, `pushing ${image} was refused: ${message}`);
  }
  if (error instanceof OciClientError && (error.status === 401 || error.status === 403)) {
    return new GureumError(ErrorCode.Forbidden, `pushing ${image} was refused: ${message}`);
  }
  return new GureumError(ErrorCode.Unavailable, `pushing ${image} failed: ${message}`);
}
