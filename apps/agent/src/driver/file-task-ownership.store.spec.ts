import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { FileTaskOwnershipStore } from './file-task-ownership.store';

describe('FileTaskOwnershipStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gureum-ownership-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const task = { workloadId: 'w1', tenantId: 't1', name: 'gureum-node-a-w1' };

  it('starts in legacy mode without a file, and leaves it for good once the migration is done', async () => {
    const path = join(dir, 'task-ownership.json');
    const first = await FileTaskOwnershipStore.open(path);
    expect(first.legacy).toBe(true);
    await first.finishMigration();
    expect((await FileTaskOwnershipStore.open(path)).legacy).toBe(false);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('keeps pending names and recorded ids across a restart; recording clears the pending name', async () => {
    const path = join(dir, 'task-ownership.json');
    const store = await FileTaskOwnershipStore.open(path);
    await store.intend(task);
    await store.intend({ ...task, workloadId: 'w2', name: 'gureum-node-a-w2' });
    await store.record('c1', task);
    const reopened = await FileTaskOwnershipStore.open(path);
    expect(reopened.owner('c1')).toEqual(task);
    expect(reopened.pending(task.name)).toBeUndefined();
    expect(reopened.pending('gureum-node-a-w2')).toMatchObject({ workloadId: 'w2' });
    await reopened.forget('c1');
    await reopened.abandon('gureum-node-a-w2');
    const last = await FileTaskOwnershipStore.open(path);
    expect(last.owner('c1')).toBeUndefined();
    expect(last.pending('gureum-node-a-w2')).toBeUndefined();
  });

  it('refuses a file that is not an ownership record', async () => {
    const path = join(dir, 'task-ownership.json');
    await writeFile(path, JSON.stringify({ version: 1, generations: {} }));
    await expect(FileTaskOwnershipStore.open(path)).rejects.toThrow(/not a task ownership file/);
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ version: 1, generations: {} });
  });
});
