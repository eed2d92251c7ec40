import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { DockerEngine } from '../driver/docker/docker-engine';
import { DockerodeEngine } from '../driver/docker/dockerode.engine';

/** What a build does inside its sandbox: load the authorised images, build, save the result. */
export type SandboxEngine = Pick<DockerEngine, 'ping' | 'buildImage'> & ImageArchiveEngine;

/** `docker save` / `docker load` (DockerodeEngine has both). */
export interface ImageArchiveEngine {
  saveImage(reference: string): Promise<Buffer>;
  loadImage(archive: Buffer): Promise<void>;
}

export interface SandboxLimits {
  cpuMillis: number;
  memoryMiB: number;
  pids: number;
}

/** One build's throwaway engine. `dispose` removes everything it made and never throws. */
export interface BuildSandbox {
  readonly engine: SandboxEngine;
  dispose(): Promise<void>;
}

export interface BuildSandboxFactory {
  create(buildId: string, limits: SandboxLimits): Promise<BuildSandbox>;
  /** Removes sandboxes a previous run of this agent left behind (a crash mid-build). */
  reap(): Promise<void>;
}

export interface DockerdSandboxOptions {
  /**
   * Where sandboxes' data roots go (`<dataDir>/<key>/data`), default /var/lib/gureum-build.
   * Not under the agent's state dir: with user namespaces remapped, every directory above a
   * data root must be traversable (o+x) by the remapped root, and the state dir is 0700.
   */
  dataDir?: string;
  nodeId: string;
  logger: Logger;
  /** Short paths for sockets (a unix socket path is at most 107 bytes); default /run/gureum-build. */
  runDir?: string;
  /** default /sys/fs/cgroup */
  cgroupRoot?: string;
  startTimeoutMs?: number;
}

const CGROUP_GROUP = 'gureum-builds';
const V1_CONTROLLERS = ['pids', 'memory', 'cpu'] as const;

/**
 * A fresh dockerd per build: own data root, exec root, pidfile and socket, started with
 * `nsenter --net` inside a new network namespace that has only `lo` (so neither the daemon —
 * ADD <url>, FROM pulls — nor a RUN step reaches any network), no bridge, no iptables, user
 * namespaces remapped (uid 0 in a step is an unprivileged host uid), and every container
 * under a cgroup with the build's pids, memory and CPU limits. It starts with no image at all:
 * what the build can use is only what the agent loads into it.
 */
export class DockerdSandboxFactory implements BuildSandboxFactory {
  private readonly nodeKey: string;
  private readonly runDir: string;
  private readonly cgroupRoot: string;

  constructor(private readonly options: DockerdSandboxOptions) {
    this.nodeKey = shortHash(options.nodeId, 6);
    this.runDir = options.runDir ?? '/run/gureum-build';
    this.cgroupRoot = options.cgroupRoot ?? '/sys/fs/cgroup';
  }

  private get dataDir(): string {
    return this.options.dataDir ?? '/var/lib/gureum-build';
  }

  async create(buildId: string, limits: SandboxLimits): Promise<BuildSandbox> {
    const key = `${this.nodeKey}-${shortHash(`${buildId}-${Date.now()}`, 8)}`;
    const sandbox = new DockerdSandbox(key, {
      root: path.join(this.dataDir, key),
      execRoot: path.join(this.runDir, key),
      netns: `gb${key}`,
      cgroupRoot: this.cgroupRoot,
      logger: this.options.logger.child({ buildId, sandbox: key }),
      startTimeoutMs: this.options.startTimeoutMs ?? 60_000,
    });
    try {
      await sandbox.start(limits);
    } catch (error) {
      await sandbox.dispose();
      throw error;
    }
    return sandbox;
  }

  async reap(): Promise<void> {
    const keys = new Set<string>();
    for (const dir of [this.dataDir, this.runDir]) {
      for (const name of await readdir(dir).catch(() => [] as string[])) if (name.startsWith(`${this.nodeKey}-`)) keys.add(name);
    }
    const namespaces = await run('ip', ['netns', 'list']).catch(() => '');
    for (const line of namespaces.split('\n')) {
      const name = line.split(/\s+/)[0] ?? '';
      if (name.startsWith(`gb${this.nodeKey}-`)) keys.add(name.slice(2));
    }
    for (const key of keys) {
      this.options.logger.warn({ sandbox: key }, 'removing a build sandbox left by an earlier run');
      await new DockerdSandbox(key, {
        root: path.join(this.dataDir, key),
        execRoot: path.join(this.runDir, key),
        netns: `gb${key}`,
        cgroupRoot: this.cgroupRoot,
        logger: this.options.logger.child({ sandbox: key }),
        startTimeoutMs: 0,
      }).dispose();
    }
  }
}

interface SandboxPaths {
  root: string;
  execRoot: string;
  netns: string;
  cgroupRoot: string;
  logger: Logger;
  startTimeoutMs: number;
}

class DockerdSandbox implements BuildSandbox {
  readonly engine: DockerodeEngine;
  private child: ChildProcess | null = null;
  private stderr = '';

  constructor(
    private readonly key: string,
    private readonly paths: SandboxPaths,
  ) {
    this.engine = new DockerodeEngine({ socketPath: this.socket });
  }

  private get socket(): string {
    return path.join(this.paths.execRoot, 'docker.sock');
  }

  private get pidfile(): string {
    return path.join(this.paths.execRoot, 'docker.pid');
  }

  private get cgroupParent(): string {
    return `/${CGROUP_GROUP}/${this.key}`;
  }

  async start(limits: SandboxLimits): Promise<void> {
    // o+x all the way down: the remapped root must traverse to its `<uid>.<gid>` data root.
    await mkdir(path.dirname(this.paths.root), { recursive: true, mode: 0o711 });
    await mkdir(path.join(this.paths.root, 'data'), { recursive: true, mode: 0o711 });
    await chmod(path.dirname(this.paths.root), 0o711);
    await chmod(this.paths.root, 0o711);
    await mkdir(this.paths.execRoot, { recursive: true, mode: 0o700 });
    await writeFile(path.join(this.paths.root, 'daemon.json'), '{}\n', { mode: 0o600 });
    await run('ip', ['netns', 'add', this.paths.netns]);
    await run('ip', ['-n', this.paths.netns, 'link', 'set', 'lo', 'up']);
    await this.createCgroup(limits);
    const args = [
      `--net=/var/run/netns/${this.paths.netns}`,
      'dockerd',
      `--config-file=${path.join(this.paths.root, 'daemon.json')}`,
      `--data-root=${path.join(this.paths.root, 'data')}`,
      `--exec-root=${this.paths.execRoot}`,
      `--pidfile=${this.pidfile}`,
      `--host=unix://${this.socket}`,
      `--containerd-namespace=gb-${this.key}`,
      `--containerd-plugins-namespace=gb-${this.key}-plugins`,
      '--bridge=none',
      '--iptables=false',
      '--ip-forward=false',
      '--ip-masq=false',
      '--userns-remap=default',
      `--cgroup-parent=${this.cgroupParent}`,
      '--log-level=warn',
    ];
    const child = spawn('nsenter', args, { stdio: ['ignore', 'ignore', 'pipe'], detached: false });
    this.child = child;
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString('utf8')).slice(-4000);
    });
    let exited: string | null = null;
    child.on('exit', (code, signal) => (exited = `dockerd exited (${code ?? signal})`));
    const deadline = Date.now() + this.paths.startTimeoutMs;
    for (;;) {
      if (exited) throw new Error(`the build sandbox did not start: ${exited}: ${this.stderr.trim().split('\n').slice(-3).join(' | ')}`);
      try {
        await this.engine.ping();
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`the build sandbox did not answer within ${this.paths.startTimeoutMs} ms: ${this.stderr.trim().split('\n').slice(-3).join(' | ')}`);
        await sleep(200);
      }
    }
  }

  async dispose(): Promise<void> {
    const log = this.paths.logger;
    await this.stopDaemon().catch((error: unknown) => log.warn({ err: error }, 'could not stop the build sandbox daemon'));
    await unmountUnder([this.paths.root, this.paths.execRoot]).catch((error: unknown) => log.warn({ err: error }, 'could not unmount the build sandbox'));
    await rm(this.paths.root, { recursive: true, force: true }).catch((error: unknown) => log.warn({ err: error }, 'could not remove the build sandbox data root'));
    await rm(this.paths.execRoot, { recursive: true, force: true }).catch((error: unknown) => log.warn({ err: error }, 'could not remove the build sandbox exec root'));
    await run('ip', ['netns', 'del', this.paths.netns]).catch(() => undefined);
    await this.removeCgroup().catch((error: unknown) => log.warn({ err: error }, 'could not remove the build sandbox cgroup'));
  }

  private async stopDaemon(): Promise<void> {
    const pid = this.child?.pid ?? Number((await readFile(this.pidfile, 'utf8').catch(() => '')).trim());
    if (!pid || !Number.isInteger(pid)) return;
    // Only a dockerd of this sandbox (its exec root on the command line) is ever signalled.
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (!cmdline.includes(`--exec-root=${this.paths.execRoot}`)) return;
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 150; i += 1) {
      if (!(await isAlive(pid))) return;
      await sleep(100);
    }
    process.kill(pid, 'SIGKILL');
    await sleep(200);
  }

  private async createCgroup(limits: SandboxLimits): Promise<void> {
    const root = this.paths.cgroupRoot;
    const quota = Math.max(1000, Math.round(limits.cpuMillis * 100));
    const memory = String(limits.memoryMiB * 1024 * 1024);
    if (existsSync(path.join(root, 'cgroup.controllers'))) {
      // cgroup v2: one tree; the controllers must be enabled for the group's children.
      const group = path.join(root, CGROUP_GROUP);
      await mkdir(group, { recursive: true });
      await writeFile(path.join(root, 'cgroup.subtree_control'), '+pids +memory +cpu').catch(() => undefined);
      await writeFile(path.join(group, 'cgroup.subtree_control'), '+pids +memory +cpu').catch(() => undefined);
      const dir = path.join(group, this.key);
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'pids.max'), String(limits.pids));
      await writeFile(path.join(dir, 'memory.max'), memory);
      await writeFile(path.join(dir, 'cpu.max'), `${quota} 100000`);
      return;
    }
    for (const controller of V1_CONTROLLERS) await mkdir(path.join(root, controller, CGROUP_GROUP, this.key), { recursive: true });
    await writeFile(path.join(root, 'pids', CGROUP_GROUP, this.key, 'pids.max'), String(limits.pids));
    await writeFile(path.join(root, 'memory', CGROUP_GROUP, this.key, 'memory.limit_in_bytes'), memory);
    await writeFile(path.join(root, 'cpu', CGROUP_GROUP, this.key, 'cpu.cfs_period_us'), '100000');
    await writeFile(path.join(root, 'cpu', CGROUP_GROUP, this.key, 'cpu.cfs_quota_us'), String(quota));
  }

  private async removeCgroup(): Promise<void> {
    const root = this.paths.cgroupRoot;
    const dirs = existsSync(path.join(root, 'cgroup.controllers'))
      ? [path.join(root, CGROUP_GROUP, this.key)]
      : V1_CONTROLLERS.map((controller) => path.join(root, controller, CGROUP_GROUP, this.key));
    for (const dir of dirs) await removeCgroupTree(dir);
  }
}

/** Gone, or a zombie nobody has reaped yet (a leftover daemon's parent may not reap). */
async function isAlive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (stat === null) return false;
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

/** cgroup directories are removed bottom-up with rmdir (their files cannot be unlinked). */
async function removeCgroupTree(dir: string): Promise<void> {
  const children = await readdir(dir, { withFileTypes: true }).catch(() => null);
  if (children === null) return;
  for (const child of children) if (child.isDirectory()) await removeCgroupTree(path.join(dir, child.name));
  await rmdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}

/** Lazily unmounts every mount below the given directories, deepest first. */
async function unmountUnder(dirs: string[]): Promise<void> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  const points = mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .map((point) => point.replace(/\\040/g, ' '))
    .filter((point) => dirs.some((dir) => point === dir || point.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const point of points) await run('umount', ['-l', point]).catch(() => undefined);
}

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')}: ${String(stderr).trim() || error.message}`));
      else resolve(String(stdout));
    });
  });
}

function shortHash(text: string, length: number): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
