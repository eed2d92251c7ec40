import { existsSync, readdirSync } from 'node:fs';
import { testStateDir } from './paths';
import { spawnProcess } from './process';

const registry = () => (existsSync(testStateDir('run', 'procs')) ? readdirSync(testStateDir('run', 'procs')) : []);

describe('spawnProcess', () => {
  it('logs stdout and stderr to a file and reports the exit code', async () => {
    const proc = await spawnProcess({
      name: 'harness-echo',
      command: process.execPath,
      args: ['-e', 'console.log("to stdout " + process.env.GREETING); console.error("to stderr"); process.exit(3)'],
      env: { GREETING: 'hi' },
    });
    expect(await proc.exited).toBe(3);
    const log = await proc.readLog();
    expect(log).toContain('to stdout hi');
    expect(log).toContain('to stderr');
    expect(proc.logFile).toBe(testStateDir('logs', 'harness-echo.log'));
  });

  it('stops with SIGTERM, escalates to SIGKILL, and unregisters', async () => {
    const stubborn = await spawnProcess({
      name: 'harness-stubborn',
      command: process.execPath,
      args: ['-e', 'process.on("SIGTERM", () => console.log("ignoring SIGTERM")); console.log("ready"); setInterval(() => {}, 1000)'],
    });
    await stubborn.waitForLog('ready', 10_000);
    expect(registry().some((f) => f.endsWith(`.${stubborn.pid}`))).toBe(true);
    expect(await stubborn.stop('SIGTERM', 500)).toBeNull();
    expect(stubborn.exitSignal).toBe('SIGKILL');
    expect(await stubborn.readLog()).toContain('ignoring SIGTERM');
    expect(registry().some((f) => f.endsWith(`.${stubborn.pid}`))).toBe(false);
  });

  it('kill9 leaves children alive, as a crash would', async () => {
    const parent = await spawnProcess({
      name: 'harness-parent',
      command: process.execPath,
      args: [
        '-e',
        'const c = require("child_process").spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" }); console.log("child=" + c.pid); setInterval(() => {}, 1000)',
      ],
    });
    const log = await parent.waitForLog(/child=\d+/, 10_000);
    const childPid = Number(/child=(\d+)/.exec(log)?.[1]);
    await parent.kill9();
    expect(parent.exitSignal).toBe('SIGKILL');
    expect(() => process.kill(childPid, 0)).not.toThrow();
    process.kill(childPid, 'SIGKILL');
  });

  it('fails clearly when the command does not exist', async () => {
    await expect(spawnProcess({ name: 'harness-missing', command: '/nonexistent/binary' })).rejects.toThrow(
      /cannot start harness-missing/,
    );
  });
});
