import { join } from 'node:path';

import { CgroupError, type CgroupErrorCode } from './cgroup.exception';
import { errnoOf, type CgroupFiles } from './cgroup-files';

/** Present in every cgroup directory on both versions, including the root. */
const MEMBERSHIP_FILE = 'cgroup.procs';

/** Reads a control file; null when the kernel does not provide it for this group. */
export async function readOptional(files: CgroupFiles, path: string): Promise<string | null> {
  try {
    return (await files.read(path)).trim();
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return null;
    throw new CgroupError('io_failure', `cannot read ${path}`, { cause: error });
  }
}

export async function readRequired(files: CgroupFiles, path: string): Promise<string> {
  const value = await readOptional(files, path);
  if (value === null) {
    throw new CgroupError('controller_unavailable', `${path} does not exist: is its controller enabled for this group?`);
  }
  return value;
}

export async function writeControl(
  files: CgroupFiles,
  path: string,
  value: string,
  codeWhenMissing: CgroupErrorCode,
): Promise<void> {
  try {
    await files.write(path, value);
  } catch (error) {
    const errno = errnoOf(error);
    const code: CgroupErrorCode =
      errno === 'ENOENT' ? codeWhenMissing : errno === 'ESRCH' ? 'not_found' : errno === 'EBUSY' ? 'busy' : 'io_failure';
    throw new CgroupError(code, `cannot write ${JSON.stringify(value)} to ${path} (${errno ?? 'error'})`, { cause: error });
  }
}

export async function assertGroupExists(files: CgroupFiles, name: string, directories: Iterable<string>): Promise<void> {
  for (const directory of directories) {
    if ((await readOptional(files, join(directory, MEMBERSHIP_FILE))) === null) {
      throw new CgroupError('not_found', `cgroup ${name} does not exist (${directory})`);
    }
  }
}

export async function mkdirGroup(files: CgroupFiles, directory: string): Promise<void> {
  try {
    await files.mkdir(directory);
  } catch (error) {
    throw new CgroupError('io_failure', `cannot create ${directory} (${errnoOf(error) ?? 'error'})`, { cause: error });
  }
}

export async function rmdirGroup(files: CgroupFiles, directory: string): Promise<void> {
  try {
    await files.rmdir(directory);
  } catch (error) {
    const errno = errnoOf(error);
    if (errno === 'ENOENT') return;
    if (errno === 'EBUSY' || errno === 'ENOTEMPTY') {
      throw new CgroupError('busy', `cannot remove ${directory}: it still has processes or child groups`, { cause: error });
    }
    throw new CgroupError('io_failure', `cannot remove ${directory} (${errno ?? 'error'})`, { cause: error });
  }
}

export async function addPid(files: CgroupFiles, directory: string, pid: number): Promise<void> {
  await writeControl(files, join(directory, MEMBERSHIP_FILE), String(pid), 'not_found');
}

export function assertPid(pid: number): void {
  if (!Number.isSafeInteger(pid) || pid <= 0) throw new CgroupError('not_found', `invalid pid ${pid}`);
}

export function parseCount(text: string, path: string): number {
  if (!/^\d+$/.test(text)) throw new CgroupError('io_failure', `unexpected content in ${path}: ${JSON.stringify(text)}`);
  return Number(text);
}

export function parseBigCount(text: string, path: string): bigint {
  if (!/^\d+$/.test(text)) throw new CgroupError('io_failure', `unexpected content in ${path}: ${JSON.stringify(text)}`);
  return BigInt(text);
}

/** `max` (v2, pids on v1) means no limit. */
export function parseLimit(text: string | null, path: string): number | null {
  if (text === null || text === 'max') return null;
  return parseCount(text, path);
}

/** Flat keyed files (`cpu.stat`, `memory.events`, v1 `memory.oom_control`): `key value` lines. */
export function parseKeyedCounts(text: string | null): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of (text ?? '').split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined) values.set(key, value);
  }
  return values;
}

export function optionalKeyedCount(values: Map<string, string>, key: string, path: string): number | null {
  const value = values.get(key);
  return value === undefined ? null : parseCount(value, path);
}
