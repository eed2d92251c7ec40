import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

import type { TaskStateStore } from './task-state.store';

interface StoredTaskState {
  version: 1;
  generations: Record<string, number>;
}

/**
 * TaskStateStore persisted as one small JSON file. Writes go to a temp file renamed over the
 * old one, so a crash leaves either the previous or the new content, and they are chained so
 * a later change never lands before an earlier one.
 */
export class FileTaskStateStore implements TaskStateStore {
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly path: string,
    private readonly generations: Map<string, number>,
  ) {}

  /** Loads the file, or starts empty when it does not exist yet. */
  static async open(path: string): Promise<FileTaskStateStore> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if (typeof error === 'object' && error !== null && 'code' in error && error.code === 'ENOENT') {
        return new FileTaskStateStore(path, new Map());
      }
      throw error;
    }
    const parsed = JSON.parse(text) as Partial<StoredTaskState>;
    if (parsed.version !== 1 || typeof parsed.generations !== 'object' || parsed.generations === null) {
      throw new Error(`${path} is not a task state file (version 1)`);
    }
    const generations = new Map<string, number>();
    for (const [handleId, generation] of Object.entries(parsed.generations)) {
      if (Number.isSafeInteger(generation) && generation >= 0) generations.set(handleId, generation);
    }
    return new FileTaskStateStore(path, generations);
  }

  get(handleId: string): number | undefined {
    return this.generations.get(handleId);
  }

  set(handleId: string, generation: number): Promise<void> {
    this.generations.set(handleId, generation);
    return this.persist();
  }

  delete(handleId: string): Promise<void> {
    if (!this.generations.delete(handleId)) return this.writing;
    return this.persist();
  }

  private persist(): Promise<void> {
    const content: StoredTaskState = { version: 1, generations: Object.fromEntries(this.generations) };
    const write = async () => {
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      const temporary = `${this.path}.${process.pid}.tmp`;
      await writeFile(temporary, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 });
      await rename(temporary, this.path);
    };
    // A failed write must not poison the chain for the next change, which rewrites everything.
    const next = this.writing.then(write, write);
    this.writing = next.catch(() => undefined);
    return next;
  }
}
