import { join, resolve } from 'node:path';

import { CgroupError } from './cgroup.exception';
import { errnoOf, nodeCgroupFiles, type CgroupFiles } from './cgroup-files';
import { parseBigCount, readOptional } from './control-files';
import type { CgroupManagerOptions } from './create-cgroup-manager';
import { hostDirectoryFor, isAtOrBelow, parseMountInfo, type MountInfoEntry, type ProcCgroupEntry } from './proc-files';
import { readProcessCgroups } from './process-cgroups';

/** Cumulative bytes a group has read from and written to block devices, all devices together. */
export interface BlockIoCounters {
  readBytes: bigint;
  writeBytes: bigint;
}

/**
 * Block-I/O counters of the group a process is in. `null` when the process shares its block-I/O
 * group with the caller (e.g. a VM whose v1 blkio group is the agent's own): its counter would
 * be everybody's, not the task's.
 */
export interface BlockIoReader {
  readForPid(pid: number): Promise<BlockIoCounters | null>;
}

/** v2 `io.stat`: one line per device, `MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N`. */
export function parseIoStat(text: string, path = 'io.stat'): BlockIoCounters {
  let readBytes = 0n;
  let writeBytes = 0n;
  for (const line of text.split('\n')) {
    const [device, ...fields] = line.trim().split(/\s+/);
    if (!device || !/^\d+:\d+$/.test(device)) continue;
    for (const field of fields) {
      const [key, value] = field.split('=');
      if (key === 'rbytes' && value !== undefined) readBytes += parseBigCount(value, path);
      if (key === 'wbytes' && value !== undefined) writeBytes += parseBigCount(value, path);
    }
  }
  return { readBytes, writeBytes };
}

/**
 * v1 `blkio.throttle.io_service_bytes[_recursive]`: `MAJ:MIN Read|Write|Sync|Async|Discard|Total N`
 * per device and a last `Total N` line. Read and Write of every device are summed (Sync/Async
 * and Total re-count the same bytes).
 */
export function parseBlkioServiceBytes(text: string, path = 'blkio.throttle.io_service_bytes'): BlockIoCounters {
  let readBytes = 0n;
  let writeBytes = 0n;
  for (const line of text.split('\n')) {
    const [device, operation, value] = line.trim().split(/\s+/);
    if (!device || !/^\d+:\d+$/.test(device) || value === undefined) continue;
    if (operation === 'Read') readBytes += parseBigCount(value, path);
    if (operation === 'Write') writeBytes += parseBigCount(value, path);
  }
  return { readBytes, writeBytes };
}

/**
 * Reads block-I/O bytes from the file of the controller that accounts them: `io.stat` on v2,
 * `blkio.throttle.io_service_bytes_recursive` on v1. On v1 with recent kernels (≥ 6.10) the
 * throttle counters only move once blk-throttle is active on the device (any group configured
 * a limit on it); before that they read zero.
 */
export async function createBlockIoReader(options: CgroupManagerOptions = {}): Promise<BlockIoReader> {
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
  const mounts = parseMountInfo(mountInfo).filter((mount) => (mount.fsType === 'cgroup' || mount.fsType === 'cgroup2') && isAtOrBelow(mount.mountPoint, fsRoot));
  const unified = mounts.find((mount) => mount.fsType === 'cgroup2' && mount.mountPoint === fsRoot);
  if (unified) {
    return groupReader(files, procRoot, (entries) => entries.find((e) => e.hierarchyId === 0 && e.controllers.length === 0), [unified], 'io.stat', parseIoStat);
  }
  const blkio = mounts.filter((mount) => mount.fsType === 'cgroup' && mount.superOptions.includes('blkio'));
  if (blkio.length === 0) throw new CgroupError('controller_unavailable', `no blkio hierarchy is mounted at ${fsRoot}`);
  return groupReader(files, procRoot, (entries) => entries.find((e) => e.controllers.includes('blkio')), blkio, 'blkio.throttle.io_service_bytes', parseBlkioServiceBytes);
}

function groupReader(
  files: CgroupFiles,
  procRoot: string,
  pick: (entries: ProcCgroupEntry[]) => ProcCgroupEntry | undefined,
  mounts: MountInfoEntry[],
  file: string,
  parse: (text: string, path: string) => BlockIoCounters,
): BlockIoReader {
  return {
    async readForPid(pid: number): Promise<BlockIoCounters | null> {
      const [own, theirs] = await Promise.all([readProcessCgroups(files, procRoot, 'self'), readProcessCgroups(files, procRoot, pid)]);
      const entry = pick(theirs);
      if (!entry) throw new CgroupError('controller_unavailable', `process ${pid} is in no block-I/O cgroup`);
      if (entry.path === pick(own)?.path) return null;
      const directory = mounts.map((mount) => hostDirectoryFor(mount, entry.path)).find((d): d is string => d !== null);
      if (!directory) throw new CgroupError('controller_unavailable', `no mounted hierarchy exposes ${entry.path} (process ${pid})`);
      // The recursive v1 file also counts sub-groups the task made; v2 io.stat is hierarchical already.
      const recursive = file.startsWith('blkio.') ? await readOptional(files, join(directory, `${file}_recursive`)) : null;
      const path = join(directory, recursive === null ? file : `${file}_recursive`);
      const text = recursive ?? (await readOptional(files, path));
      if (text === null) throw new CgroupError('controller_unavailable', `${path} does not exist: is the io controller enabled for this group?`);
      return parse(text, path);
    },
  };
}
