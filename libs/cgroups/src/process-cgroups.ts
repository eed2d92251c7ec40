import { join } from 'node:path';

import { CgroupError } from './cgroup.exception';
import { errnoOf, type CgroupFiles } from './cgroup-files';
import { assertPid } from './control-files';
import { parseProcCgroup, type ProcCgroupEntry } from './proc-files';

/** `/proc/<pid>/cgroup` of a process (`pid` may be `self`). */
export async function readProcessCgroups(files: CgroupFiles, procRoot: string, pid: number | 'self'): Promise<ProcCgroupEntry[]> {
  if (pid !== 'self') assertPid(pid);
  const path = join(procRoot, String(pid), 'cgroup');
  try {
    return parseProcCgroup(await files.read(path));
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') throw new CgroupError('not_found', `process ${pid} does not exist (${path})`, { cause: error });
    throw new CgroupError('io_failure', `cannot read ${path}`, { cause: error });
  }
}
