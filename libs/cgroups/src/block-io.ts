import { readdir } from 'node:fs/promises';
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

/** Name of the empty v1 blkio group that carries the no-op throttle rules. */
export const ACCOUNTING_GROUP = 'gureum-io-accounting';
/** 1 TiB/s: a rule no disk reaches, so it limits nothing; its existence is what matters. */
const NO_OP_BPS = '1099511627776';

export interface BlockAccountingOptions extends CgroupManagerOptions {
  /** default `/sys`; its `block/<disk>/dev` files name the disks (`MAJ:MIN`). */
  sysRoot?: string;
  /** Lists a directory; default the real filesystem. */
  list?: (path: string) => Promise<string[]>;
}

/**
 * On cgroup v1 with Linux ≥ 6.10 blk-throttle is only set up on a disk, and its per-group
 * byte counters only kept, once some group has a throttle rule for that disk. This puts a
 * no-op rule (1 TiB/s) for every real disk (not loop, ram or zram devices) on an empty group
 * of its own below the caller's blkio group, so every group's counters move and nothing is
 * limited. Returns the disks it covered; nothing to do on v2 (the io controller accounts
 * without rules) or without a blkio hierarchy. Idempotent.
 */
export async function activateV1BlockAccounting(options: BlockAccountingOptions = {}): Promise<string[]> {
  const fsRoot = resolve(options.fsRoot ?? '/sys/fs/cgroup');
  const procRoot = options.procRoot ?? '/proc';
  const files = options.files ?? nodeCgroupFiles;
  const list = options.list ?? ((path: string) => readdir(path));
  const mounts = parseMountInfo(await files.read(join(procRoot, 'self', 'mountinfo'))).filter((m) => isAtOrBelow(m.mountPoint, fsRoot));
  if (mounts.some((m) => m.fsType === 'cgroup2' && m.mountPoint === fsRoot)) return [];
  const own = (await readProcessCgroups(files, procRoot, 'self')).find((e) => e.controllers.includes('blkio'));
  const directory = own && mounts.filter((m) => m.fsType === 'cgroup' && m.superOptions.includes('blkio')).map((m) => hostDirectoryFor(m, own.path)).find((d): d is string => d !== null);
  if (!directory) return [];
  const group = join(directory, ACCOUNTING_GROUP);
  await files.mkdir(group);
  const blockRoot = join(options.sysRoot ?? '/sys', 'block');
  const disks = (await list(blockRoot)).filter((name) => !/^(loop|ram|zram)\d+$/.test(name)).sort();
  const covered: string[] = [];
  for (const disk of disks) {
    const device = (await readOptional(files, join(blockRoot, disk, 'dev')))?.trim();
    if (!device || !/^\d+:\d+$/.test(device)) continue;
    try {
      await files.write(join(group, 'blkio.throttle.read_bps_device'), `${device} ${NO_OP_BPS}`);
      await files.write(join(group, 'blkio.throttle.write_bps_device'), `${device} ${NO_OP_BPS}`);
      covered.push(device);
    } catch {
      // A device blk-throttle does not take (e.g. without a request queue): its counters stay as they are.
    }
  }
  return covered;
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
