import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { testRunId, testStateDir } from './paths';
import { waitFor } from './wait-for';

export interface SpawnProcessOptions {
  /** Short name: names the log file `<logDir>/<name>.log`. */
  name: string;
  command: string;
  args?: string[];
  /** Added to (and overriding) this process's environment. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Default: `.gureum-test/logs`. */
  logDir?: string;
  /**
   * Scratch directory (under .gureum-test/) that belongs to this process: deleted together
   * with it when the global teardown or ci.sh has to reap it. Normal stops leave it to you.
   */
  scratchDir?: string;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  /** stdout and stderr of the process, appended (several spawns of one name share a file). */
  readonly logFile: string;
  /** Exit code, or null when a signal ended the process. */
  readonly exited: Promise<number | null>;
  /** Signal that ended the process, once it has ended by one. */
  readonly exitSignal: NodeJS.Signals | null;
  /**
   * Sends `signal` to the process (not its children) and waits up to `timeoutMs` for it to
   * exit, then SIGKILLs its whole process group. Resolves to the exit code (null: signal).
   */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  /** SIGKILL to the process only, as a crash would: its children survive. */
  kill9(): Promise<number | null>;
  /** What this process has written to its log so far (not earlier spawns of the name). */
  readLog(): Promise<string>;
  /** Waits until the log of this process matches `pattern`. */
  waitForLog(pattern: RegExp | string, timeoutMs?: number): Promise<string>;
}

interface Tracked {
  pid: number;
  registryFile: string;
  scratchDir: string | undefined;
  running: boolean;
}

const tracked = new Set<Tracked>();
let exitHookInstalled = false;

/**
 * Starts a process in its own process group with stdout+stderr appended to a log file.
 * Every process is registered in `.gureum-test/run/procs/` under the test run id until it
 * exits, so the Jest global teardown and ci.sh reap whatever a test leaves behind, and this
 * worker kills its own leftovers when it exits.
 */
export async function spawnProcess(opts: SpawnProcessOptions): Promise<ManagedProcess> {
  const args = opts.args ?? [];
  const logDir = opts.logDir ?? testStateDir('logs');
  mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, `${opts.name.replace(/[^A-Za-z0-9._-]/g, '_')}.log`);
  const fd = openSync(logFile, 'a');
  writeSync(fd, `=== ${new Date().toISOString()} spawn: ${[opts.command, ...args].join(' ')}\n`);
  const logStart = statSync(logFile).size;

  const child = spawn(opts.command, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', fd, fd],
    detached: true,
  });
  closeSync(fd);

  let exitSignal: NodeJS.Signals | null = null;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code, signal) => {
      exitSignal = signal;
      resolve(code);
    });
  });

  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (error) => reject(new Error(`cannot start ${opts.name} (${opts.command}): ${error.message}`)));
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot start ${opts.name}: no pid`);

  const entry: Tracked = {
    pid,
    registryFile: register(pid, [opts.command, ...args], opts.scratchDir),
    scratchDir: opts.scratchDir,
    running: true,
  };
  tracked.add(entry);
  installExitHook();
  void exited.then(() => {
    entry.running = false;
    tracked.delete(entry);
    rmSync(entry.registryFile, { force: true });
  });

  const hasExited = () => !entry.running;
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-pid, signal);
    } catch {
      // the group is gone already
    }
  };
  const signalProcess = (signal: NodeJS.Signals) => {
    try {
      process.kill(pid, signal);
    } catch {
      // exited already
    }
  };

  const readLog = async (): Promise<string> => {
    const handle = await open(logFile, 'r');
    try {
      const { size } = await handle.stat();
      const buffer = Buffer.alloc(Math.max(0, size - logStart));
      await handle.read(buffer, 0, buffer.length, logStart);
      return buffer.toString('utf8');
    } finally {
      await handle.close();
    }
  };

  return {
    name: opts.name,
    pid,
    logFile,
    exited,
    get exitSignal() {
      return exitSignal;
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000) {
      if (hasExited()) return exited;
      signalProcess(signal);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      const outcome = await Promise.race([exited, timedOut]);
      clearTimeout(timer);
      if (outcome === 'timeout') signalGroup('SIGKILL');
      return exited;
    },
    async kill9() {
      if (!hasExited()) signalProcess('SIGKILL');
      return exited;
    },
    readLog,
    async waitForLog(pattern: RegExp | string, timeoutMs = 30_000) {
      return waitFor(
        async () => {
          const log = await readLog();
          const found = typeof pattern === 'string' ? log.includes(pattern) : pattern.test(log);
          if (found) return log;
          if (hasExited()) throw new Error(`${opts.name} exited; log:\n${log.slice(-2000)}`);
          return undefined;
        },
        { timeoutMs, intervalMs: 100, what: `${opts.name} to log ${String(pattern)}` },
      );
    },
  };
}

// Registry file format (read by `kill_registered` in deploy/local/lib.sh): pid, run id and
// the command line as /proc/<pid>/cmdline shows it with NULs as spaces, and the scratch
// directory (may be empty), one per line.
function register(pid: number, argv: string[], scratchDir = ''): string {
  const dir = testStateDir('run', 'procs');
  mkdirSync(dir, { recursive: true });
  const runId = testRunId();
  const file = path.join(dir, `${runId}.${pid}`);
  writeFileSync(file, `${pid}\n${runId}\n${argv.join(' ')}\n${scratchDir}\n`);
  return file;
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort for a worker that exits with processes still running: only synchronous
  // work is possible here, so it is SIGKILL for each group.
  process.once('exit', () => {
    for (const entry of tracked) {
      try {
        process.kill(-entry.pid, 'SIGKILL');
      } catch {
        // gone
      }
      rmSync(entry.registryFile, { force: true });
      if (entry.scratchDir) rmSync(entry.scratchDir, { recursive: true, force: true });
    }
  });
}
