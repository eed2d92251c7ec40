import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

import { InMemoryTaskOwnershipStore, type OwnedTask } from './task-ownership.store';

interface StoredOwnership {
  version: 1;
  /** false once the first recovery after the upgrade has recorded the older agent's containers. */
  legacy: boolean;
  owned: Record<string, OwnedTask>;
  pending: Record<string, OwnedTask>;
}

/**
 * TaskOwnershipStore in one small JSON file (0600), written like FileTaskStateStore: temp file
 * renamed over the old one, writes chained in order. A missing file means an agent from
 * before ownership records (or a first start): `legacy` until the first recovery.
 */
export class FileTaskOwnershipStore extends InMemoryTaskOwnershipStore {
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly path: string,
    legacy: boolean,
  ) {
    super(legacy);
  }

  static async open(path: string): Promise<FileTaskOwnershipStore> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if (typeof error === 'object' && error !== null && 'code' in error && error.code === 'ENOENT') return new FileTaskOwnershipStore(path, true);
      throw error;
    }
    const parsed = JSON.parse(text) as Partial<StoredOwnership>;
    if (parsed.version !== 1 || typeof parsed.owned !== 'object' || parsed.owned === null) throw new Error(`${path} is not a task ownership file (version 1)`);
    const store = new FileTaskOwnershipStore(path, parsed.legacy === true);
    for (const [handleId, task] of Object.entries(parsed.owned)) if (isOwnedTask(task)) store.owned.set(handleId, task);
    for (const [name, task] of Object.entries(parsed.pending ?? {})) if (isOwnedTask(task) && task.name === name) store.intended.set(name, task);
    return store;
  }

  protected override changed(): Promise<void> {
    const content: StoredOwnership = {
      version: 1,
      legacy: this.legacy,
      owned: Object.fromEntries(this.owned),
      pending: Object.fromEntries(this.intended),
    };
    const write = async () => {
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      const temporary = `${this.path}.${process.pid}.tmp`;
      await writeFile(temporary, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 });
      await rename(temporary, this.path);
    };
    const next = this.writing.then(write, write);
    this.writing = next.catch(() => undefined);
    return next;
  }
}

function isOwnedTask(value: unknown): value is OwnedTask {
  if (typeof value !== 'object' || value === null) return false;
  const task = value as Record<string, unknown>;
  return typeof task['workloadId'] === 'string' && typeof task['tenantId'] === 'string' && typeof task['name'] === 'string';
}
