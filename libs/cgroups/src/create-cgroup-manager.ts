import { join, resolve } from 'node:path';

import { CgroupError } from './cgroup.exception';
import { errnoOf, nodeCgroupFiles, type CgroupFiles } from './cgroup-files';
import { CgroupV1Manager, resolveV1Directories } from './cgroup-v1.manager';
import { CgroupV2Manager, resolveV2Directory } from './cgroup-v2.manager';
import type { CgroupManager } from './cgroup.types';
import { isAtOrBelow, parseMountInfo } from './proc-files';
import { readProcessCgroups } from './process-cgroups';

export interface CgroupManagerOptions {
  /** Where the cgroup filesystems are mounted; default `/sys/fs/cgroup`. */
  fsRoot?: string;
  /** default `/proc` */
  procRoot?: string;
  /** default: the real filesystem */
  files?: CgroupFiles;
}

/**
 * Picks the implementation from mountinfo: cgroup v2 when a `cgroup2` filesystem is mounted
 * at the root itself, otherwise v1 from the `cgroup` mounts below it. Hybrid hosts (v1
 * controllers plus an empty cgroup2 at `<root>/unified`) are v1: the controllers live there.
 */
export async function createCgroupManager(options: CgroupManagerOptions = {}): Promise<CgroupManager> {
  const fsRoot = resolve(options.fsRoot ?? '/sys/fs/cgroup');
  const procRoot = options.procRoot ?? '/proc';
  const files = options.files ?? nodeCgroupFiles;

  const mountInfoPath = join(procRoot, 'self', 'mountinfo');
  let mountInfo: string;
  try {
    mountInfo = await files.read(mountInfoPath);
  } catch (error) {
    throw new CgroupError('unsupported_host', `cannot read ${mountInfoPath} (${errnoOf(error) ?? 'error'})`, { cause: error });
  }
  const mounts = parseMountInfo(mountInfo).filter(
    (mount) => (mount.fsType === 'cgroup' || mount.fsType === 'cgroup2') && isAtOrBelow(mount.mountPoint, fsRoot),
  );
  const ownCgroups = await readProcessCgroups(files, procRoot, 'self');

  const unified = mounts.find((mount) => mount.fsType === 'cgroup2' && mount.mountPoint === fsRoot);
  if (unified) {
    return new CgroupV2Manager({
      files,
      procRoot,
      mount: unified,
      ownDirectory: resolveV2Directory(unified, ownCgroups, 'the current process'),
    });
  }
  const v1Mounts = mounts.filter((mount) => mount.fsType === 'cgroup');
  if (v1Mounts.length === 0) {
    throw new CgroupError('unsupported_host', `no cgroup v1 or v2 filesystem is mounted at ${fsRoot}`);
  }
  return new CgroupV1Manager({
    files,
    procRoot,
    mounts: v1Mounts,
    ownDirectories: resolveV1Directories(v1Mounts, ownCgroups, 'the current process'),
  });
}
