import { execFile, spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

import { qemuLaunchCommand, type QemuRunAs } from './vm-launch';

const execFileAsync = promisify(execFile);

export interface SpawnedQemu {
  pid: number;
  /** Resolves with the exit code (128 + signal for a signal) when this process started it. */
  exited: Promise<number>;
}

/**
 * The host side effects of running QEMU: processes and qemu-img. Behind an interface so the
 * driver's bookkeeping can be unit-tested and the binary swapped.
 */
export interface QemuHost {
  /**
   * Starts QEMU with `args`. `beforeExec(pid)` runs while the wrapper process waits, so the
   * caller can move it into its cgroups: QEMU's memory is then charged there from its first
   * page (a v1 memory cgroup does not move charges of a process moved later).
   */
  spawnQemu(args: string[], stderrPath: string, beforeExec: (pid: number) => Promise<void>): Promise<SpawnedQemu>;
  qemuImg(args: string[]): Promise<string>;
  /** true when `pid` runs and its command line contains `marker`. */
  isQemuProcess(pid: number, marker: string): Promise<boolean>;
  kill(pid: number, signal: NodeJS.Signals): void;
  version(): Promise<string>;
  /** The unprivileged user QEMU runs as, or null (the agent's own user). */
  readonly runAs?: QemuRunAs | null;
}

export class LocalQemuHost implements QemuHost {
  constructor(
    private readonly qemuBinary = 'qemu-system-x86_64',
    private readonly qemuImgBinary = 'qemu-img',
    /** The unprivileged user QEMU runs as; null: as the agent's own user. */
    readonly runAs: QemuRunAs | null = null,
  ) {}

  async spawnQemu(args: string[], stderrPath: string, beforeExec: (pid: number) => Promise<void>): Promise<SpawnedQemu> {
    const stderr = openSync(stderrPath, 'a', 0o600);
    // The wrapper blocks on stdin until the caller has placed it in its cgroups, then becomes
    // QEMU (same pid) with stdin from /dev/null so QEMU outlives the agent that started it,
    // dropped to `runAs` (see qemuLaunchCommand).
    const command = qemuLaunchCommand(this.qemuBinary, args, this.runAs);
    const child = spawn(command.file, command.argv, {
      stdio: ['pipe', stderr, stderr],
      detached: true,
    });
    closeSync(stderr);
    const exited = new Promise<number>((resolve) =>
      child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? signalNumber(signal) : 0))),
    );
    const pid = child.pid;
    if (pid === undefined) {
      const error = await new Promise<Error>((resolve) => child.once('error', resolve));
      throw error;
    }
    child.unref();
    try {
      await beforeExec(pid);
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
    child.stdin?.end('go\n');
    return { pid, exited };
  }

  async qemuImg(args: string[]): Promise<string> {
    const { stdout } = await execFileAsync(this.qemuImgBinary, args, { maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  }

  async isQemuProcess(pid: number, marker: string): Promise<boolean> {
    try {
      const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      // A zombie has exited already; it only waits for its parent.
      if (/^\d+ \(.*\) Z /.test(stat)) return false;
      return cmdline.some((arg) => arg.includes(marker));
    } catch {
      return false;
    }
  }

  kill(pid: number, signal: NodeJS.Signals): void {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }

  async version(): Promise<string> {
    const { stdout } = await execFileAsync(this.qemuBinary, ['--version']);
    return stdout.split('\n')[0]?.trim() ?? 'qemu';
  }
}

function signalNumber(signal: NodeJS.Signals): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGKILL: 9, SIGTERM: 15, SIGINT: 2, SIGABRT: 6, SIGSEGV: 11 };
  return numbers[signal] ?? 0;
}
