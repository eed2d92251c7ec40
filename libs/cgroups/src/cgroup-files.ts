import { constants } from 'node:fs';
import { mkdir, open, readFile, rmdir } from 'node:fs/promises';

/**
 * The four filesystem operations the managers perform. Errors are Node errors carrying the
 * kernel's errno `code` (ENOENT, EBUSY, ESRCH, ...). Unit tests substitute an implementation
 * that behaves like cgroupfs on a plain temp directory (files appear on mkdir, rmdir works on
 * a directory that still lists its control files).
 */
export interface CgroupFiles {
  read(path: string): Promise<string>;
  /** Writes into an existing file; never creates one (cgroupfs cannot, and a typo must fail). */
  write(path: string, value: string): Promise<void>;
  /** Creates the directory and missing parents; succeeds when it exists already. */
  mkdir(path: string): Promise<void>;
  rmdir(path: string): Promise<void>;
}

export const nodeCgroupFiles: CgroupFiles = {
  read: (path) => readFile(path, 'utf8'),
  async write(path, value) {
    const handle = await open(path, constants.O_WRONLY | constants.O_TRUNC);
    try {
      // One write() call: the kernel parses each write to a control file as one value.
      await handle.write(value);
    } finally {
      await handle.close();
    }
  },
  async mkdir(path) {
    await mkdir(path, { recursive: true });
  },
  rmdir: (path) => rmdir(path),
};

/** Not `instanceof Error`: errors thrown by Node's own modules come from another realm under Jest. */
export function errnoOf(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}
