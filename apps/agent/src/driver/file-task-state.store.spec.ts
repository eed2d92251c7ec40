import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { FileTaskStateStore } from './file-task-state.store';

describe('FileTaskStateStore', () => {
  let directory: string;
  let path: string;
  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'gureum-task-state-'));
    path = join(directory, 'nested', 'task-state.json');
  });
  afterEach(() => rm(directory, { recursive: true, force: true }));

  it('starts empty without a file and keeps generations across reopening', async () => {
    const store = await FileTaskStateStore.open(path);
    expect(store.get('a')).toBeUndefined();
    await store.set('a', 2);
    await store.set('b', 5);
    await store.delete('b');

    const reopened = await FileTaskStateStore.open(path);
    expect(reopened.get('a')).toBe(2);
    expect(reopened.get('b')).toBeUndefined();
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ version: 1, generations: { a: 2 } });
  });

  it('lands concurrent changes in order', async () => {
    const store = await FileTaskStateStore.open(path);
    await Promise.all([1, 2, 3, 4, 5].map((generation) => store.set('a', generation)));
    expect((await FileTaskStateStore.open(path)).get('a')).toBe(5);
  });

  it('refuses a file that is not a task state file rather than starting over silently', async () => {
    await writeFile(join(directory, 'other.json'), '{"hello":1}');
    await expect(FileTaskStateStore.open(join(directory, 'other.json'))).rejects.toThrow('not a task state file');
  });
});
