import path from 'node:path';

import { createCgroupManager, type CgroupManager } from '@gureum/cgroups';

import { connectQmpSocket } from './qmp-client';
import { LocalQemuHost } from './qemu-host';
import type { TemplateSource } from './template-source';
import type { AcceleratorSetting } from './vm-launch';
import { VmDriver, type VmDriverOptions } from './vm.driver';

export interface CreateVmDriverOptions {
  stateDir: string;
  /** default `.gureum/images/vm` (what deploy/images/vm-guest.sh fills) */
  templateRoot?: string;
  accelerator?: AcceleratorSetting;
  cgroups?: CgroupManager;
  socketDir?: string;
  capacity?: VmDriverOptions['capacity'];
  /** Default: the local template directory (`templateRoot`). */
  templates?: TemplateSource;
}

export async function createVmDriver(options: CreateVmDriverOptions): Promise<VmDriver> {
  return new VmDriver({
    stateDir: options.stateDir,
    templateRoot: options.templateRoot ?? path.resolve('.gureum/images/vm'),
    cgroups: options.cgroups ?? (await createCgroupManager()),
    host: new LocalQemuHost(),
    connectQmp: connectQmpSocket,
    accelerator: options.accelerator ?? 'auto',
    ...(options.socketDir ? { socketDir: options.socketDir } : {}),
    ...(options.capacity ? { capacity: options.capacity } : {}),
    ...(options.templates ? { templates: options.templates } : {}),
  });
}
