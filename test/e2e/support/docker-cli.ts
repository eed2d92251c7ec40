import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface DockerResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The stock docker CLI with its own temporary DOCKER_CONFIG, so a test's `docker login`
 * never writes credentials to ~/.docker.
 */
export class DockerCli {
  private constructor(readonly configDir: string) {}

  static async create(): Promise<DockerCli> {
    return new DockerCli(await mkdtemp(path.join(tmpdir(), 'gureum-docker-config-')));
  }

  run(args: string[], stdin?: string | Buffer): Promise<DockerResult> {
    return new Promise((resolve) => {
      const child = execFile(
        'docker',
        args,
        { env: { PATH: process.env['PATH'], DOCKER_CONFIG: this.configDir, HOME: this.configDir }, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
        (error, stdout, stderr) => {
          resolve({ code: error ? ((error as { code?: unknown }).code as number) || 1 : 0, stdout: String(stdout), stderr: String(stderr) });
        },
      );
      if (stdin !== undefined) child.stdin?.end(stdin);
    });
  }

  async ok(args: string[], stdin?: string | Buffer): Promise<string> {
    const result = await this.run(args, stdin);
    if (result.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
    return result.stdout;
  }

  async dispose(): Promise<void> {
    await rm(this.configDir, { recursive: true, force: true });
  }
}
