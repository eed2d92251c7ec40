import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { createCgroupManager, type CgroupManager } from '@gureum/cgroups';

import { connectQmpSocket } from './qmp-client';
import { LocalQemuHost } from './qemu-host';
import type { TemplateSource } from './template-source';
import type { AcceleratorSetting, QemuRunAs } from './vm-launch';
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
  /**
   * The unprivileged user QEMU runs as (`GUREUM_AGENT_VM_USER`, default `gureum-qemu`, made
   * by deploy/local/lib.sh `ensure_qemu_user`); '' runs QEMU as the agent's own user. Only an
   * agent running as root can switch users; otherwise QEMU runs as the agent's user.
   */
  qemuUser?: string;
  /** Called with a warning when the QEMU user is missing. */
  warn?: (message: string) => void;
}

export const DEFAULT_QEMU_USER = 'gureum-qemu';

/** uid and primary gid of `user` from /etc/passwd; null when there is no such user. */
export async function lookupUser(user: string, passwd = '/etc/passwd'): Promise<QemuRunAs | null> {
  const text = await readFile(passwd, 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const [name, , uid, gid] = line.split(':');
    if (name === user && uid !== undefined && gid !== undefined && /^\d+$/.test(uid) && /^\d+$/.test(gid)) {
      return { user, uid: Number(uid), gid: Number(gid) };
    }
  }
  return null;
}

async function resolveQemuUser(options: CreateVmDriverOptions): Promise<QemuRunAs | null> {
  const user = options.qemuUser ?? DEFAULT_QEMU_USER;
  if (user === '' || process.getuid?.() !== 0) return null;
  const found = await lookupUser(user);
  if (!found) options.warn?.(`QEMU user ${user} does not exist: QEMU runs as root (create it: deploy/local/lib.sh ensure_qemu_user)`);
  else if (found.uid === 0) return null;
  return found;
}

export async function createVmDriver(options: CreateVmDriverOptions): Promise<VmDriver> {
  return new VmDriver({
    stateDir: options.stateDir,
    templateRoot: options.templateRoot ?? path.resolve('.gureum/images/vm'),
    cgroups: options.cgroups ?? (await createCgroupManager()),
    host: new LocalQemuHost('qemu-system-x86_64', 'qemu-img', await resolveQemuUser(options)),
    connectQmp: connectQmpSocket,
    accelerator: options.accelerator ?? 'auto',
    ...(options.socketDir ? { socketDir: options.socketDir } : {}),
    ...(options.capacity ? { capacity: options.capacity } : {}),
    ...(options.templates ? { templates: options.templates } : {}),
  });
}
