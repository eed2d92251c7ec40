import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './paths';

const run = promisify(execFile);
const built = new Map<string, Promise<void>>();

export const BUSYBOX_IMAGE = 'gureum/busybox:latest';

/** Builds the base image with deploy/images/busybox.sh (idempotent; once per tag and process). */
export function ensureBusyboxImage(tag = BUSYBOX_IMAGE): Promise<void> {
  let pending = built.get(tag);
  if (!pending) {
    const script = path.join(repoRoot(), 'deploy', 'images', 'busybox.sh');
    pending = run('bash', [script, tag], { cwd: repoRoot(), timeout: 300_000, maxBuffer: 16 * 1024 * 1024 }).then(
      () => undefined,
      (error: NodeJS.ErrnoException & { stderr?: string }) => {
        built.delete(tag);
        throw new Error(`deploy/images/busybox.sh ${tag} failed: ${error.message}\n${error.stderr ?? ''}`);
      },
    );
    built.set(tag, pending);
  }
  return pending;
}

/** The server version of the Docker engine on /var/run/docker.sock, or undefined when none answers. */
export async function dockerServerVersion(): Promise<string | undefined> {
  try {
    const { stdout } = await run('docker', ['-H', 'unix:///var/run/docker.sock', 'info', '--format', '{{.ServerVersion}}'], {
      timeout: 20_000,
    });
    const version = stdout.trim();
    return version && !version.includes('<no value>') ? version : undefined;
  } catch {
    return undefined;
  }
}
