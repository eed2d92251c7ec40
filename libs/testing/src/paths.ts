import { existsSync } from 'node:fs';
import path from 'node:path';

let cachedRoot: string | undefined;

/** The repository root (the directory holding nx.json), found from this file's location. */
export function repoRoot(): string {
  if (cachedRoot) return cachedRoot;
  let dir = __dirname;
  for (;;) {
    if (existsSync(path.join(dir, 'nx.json')) && existsSync(path.join(dir, 'deploy', 'local'))) {
      cachedRoot = dir;
      return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find the repository root above ${__dirname}`);
    dir = parent;
  }
}

/** `.gureum-test/` at the repository root: logs, results and scratch state of test runs. */
export function testStateDir(...segments: string[]): string {
  return path.join(repoRoot(), '.gureum-test', ...segments);
}

/** Id under which this test run registers the processes it spawns (see process.ts). */
export function testRunId(): string {
  return process.env['GUREUM_TEST_RUN_ID'] ?? `adhoc-${process.ppid}`;
}
