import { access, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { DriverError } from '../driver';
import type { VmTemplate } from './vm-launch';

/**
 * Where the vm driver gets the files a template reference stands for: a kernel, an initrd
 * and a base disk that overlays are created on. Today: a directory per template on the host
 * (`LocalDirTemplateSource`, filled by deploy/images/vm-guest.sh). A registry-backed source
 * (templates as OCI artifacts, pulled and cached once per host) implements the same two
 * methods and is handed to the driver instead.
 */
export interface TemplateSource {
  /** References this host can start now; the agent reports them and the scheduler places on them. */
  list(): Promise<string[]>;
  /**
   * The template's local files; `DriverError('image_not_found')` when the reference is unknown.
   * `auth`: the assignment's pull token, for a template that has to be fetched first.
   */
  resolve(ref: string, auth?: TemplatePullAuth): Promise<VmTemplate>;
}

/** A one-repository, read-only registry token (the assignment's `pullAuth`). */
export interface TemplatePullAuth {
  registry: string;
  token: string;
}

/** A template name is a directory name: no slashes, no `..`. */
const LOCAL_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** `<root>/<name>/template.json` (`{ kernel, initrd, disk, cmdline? }`, paths relative to the directory). */
export class LocalDirTemplateSource implements TemplateSource {
  constructor(private readonly root: string) {}

  async list(): Promise<string[]> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    const templates: string[] = [];
    for (const name of names.sort()) {
      if (!LOCAL_NAME.test(name)) continue;
      try {
        await access(path.join(this.root, name, 'template.json'));
        templates.push(name);
      } catch {
        // not a template directory
      }
    }
    return templates;
  }

  async resolve(ref: string): Promise<VmTemplate> {
    if (!LOCAL_NAME.test(ref) || ref.includes('..')) throw new DriverError('image_not_found', `no VM template ${ref} on this host`);
    const dir = path.join(this.root, ref);
    let manifest: { kernel: string; initrd: string; disk: string; cmdline?: string };
    try {
      manifest = JSON.parse(await readFile(path.join(dir, 'template.json'), 'utf8')) as typeof manifest;
    } catch (error) {
      throw new DriverError('image_not_found', `no VM template ${ref} on this host`, { cause: error });
    }
    return {
      name: ref,
      kernelPath: path.join(dir, manifest.kernel),
      initrdPath: path.join(dir, manifest.initrd),
      diskPath: path.join(dir, manifest.disk),
      cmdline: manifest.cmdline ?? 'console=ttyS0',
    };
  }
}
