import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './paths';

const run = promisify(execFile);

/**
 * Runs a command of deploy/local/lib.sh (test-pg-start, test-pg-stop, kill-registered) and
 * returns its KEY=VALUE output lines as a record.
 */
export async function libSh(...args: string[]): Promise<Record<string, string>> {
  try {
    const { stdout } = await run('bash', [path.join(repoRoot(), 'deploy', 'local', 'lib.sh'), ...args], {
      cwd: repoRoot(),
      timeout: 120_000,
    });
    const values: Record<string, string> = {};
    for (const line of stdout.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) values[line.slice(0, eq)] = line.slice(eq + 1);
    }
    return values;
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`deploy/local/lib.sh ${args.join(' ')} failed: ${(error as Error).message}\n${stderr}`);
  }
}
