import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';

import { nodeCgroupFiles, type CgroupFiles } from '../cgroup-files';

/**
 * A cgroup filesystem and /proc on a temp directory, for unit tests. Its CgroupFiles behave
 * like the kernel's where the managers depend on it: a new directory gets the control files
 * of its hierarchy (on v2: of the controllers the parent delegates), writing a pid to
 * cgroup.procs moves that process (and rewrites /proc/<pid>/cgroup), rmdir refuses a group
 * with members or children, and v2 refuses delegation from a non-root group with members.
 */

type FakeVersion = 1 | 2;
interface FakeHierarchy {
  id: number;
  mountPoint: string;
  /** v1 controllers of this mount; on v2 the controllers the root offers. */
  controllers: string[];
}

const V1_FILES: Record<string, Record<string, string>> = {
  cpu: { 'cpu.cfs_quota_us': '-1', 'cpu.cfs_period_us': '100000', 'cpu.stat': 'nr_periods 0\nnr_throttled 0\nthrottled_time 0\n' },
  cpuacct: { 'cpuacct.usage': '0' },
  memory: {
    'memory.limit_in_bytes': '9223372036854771712',
    'memory.usage_in_bytes': '0',
    'memory.max_usage_in_bytes': '0',
    'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n',
  },
  pids: { 'pids.max': 'max', 'pids.current': '0' },
};
const V2_FILES: Record<string, Record<string, string>> = {
  cpu: { 'cpu.max': 'max 100000' },
  memory: {
    'memory.max': 'max',
    'memory.current': '0',
    'memory.peak': '0',
    'memory.events': 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n',
  },
  pids: { 'pids.max': 'max', 'pids.current': '0' },
};
/** cpu.stat is a core file on v2, present even without the cpu controller. */
const V2_CORE_FILES = { 'cpu.stat': 'usage_usec 0\nuser_usec 0\nsystem_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n' };

export const FAKE_OWN_PID = 1000;

export interface FakeV1Options {
  /** `separate` as on our hosts (cpu and cpuacct apart), `comounted` as on many distributions. */
  cpuLayout?: 'separate' | 'comounted';
  /** Own process's path per controller, default `/` except memory at `/session/own`. */
  ownPaths?: Partial<Record<'cpu' | 'cpuacct' | 'memory' | 'pids', string>>;
}

export class FakeCgroupTree {
  readonly fsRoot: string;
  readonly procRoot: string;
  readonly files: CgroupFiles;
  /** pid → hierarchy id → cgroup path */
  private readonly membership = new Map<number, Map<number, string>>();
  private mountInfo = '';

  private constructor(
    readonly base: string,
    readonly version: FakeVersion,
    private readonly hierarchies: FakeHierarchy[],
  ) {
    this.fsRoot = join(base, 'sys/fs/cgroup');
    this.procRoot = join(base, 'proc');
    this.files = {
      read: (path) => nodeCgroupFiles.read(path),
      write: (path, value) => this.write(path, value),
      mkdir: (path) => this.mkdir(path),
      rmdir: (path) => this.rmdir(path),
    };
  }

  /** Layout of our hosts: separate cpu and cpuacct, a named systemd tree and an empty cgroup2. */
  static async v1(options: FakeV1Options = {}): Promise<FakeCgroupTree> {
    const base = await mkdtemp(join(tmpdir(), 'gureum-cgroups-v1-'));
    const fsRoot = join(base, 'sys/fs/cgroup');
    const sets = options.cpuLayout === 'comounted' ? [['cpu', 'cpuacct'], ['memory'], ['pids']] : [['cpu'], ['cpuacct'], ['memory'], ['pids']];
    const hierarchies = sets.map((controllers, index) => ({
      id: index + 1,
      mountPoint: join(fsRoot, controllers.join(',')),
      controllers,
    }));
    const tree = new FakeCgroupTree(base, 1, hierarchies);
    const mountLines = [
      `22 1 8:1 / / rw,relatime - ext4 /dev/vda rw`,
      `31 22 0:28 / ${fsRoot} rw,relatime - tmpfs tmpfs rw,mode=755`,
      ...hierarchies.map((h) => `${40 + h.id} 31 0:${40 + h.id} / ${h.mountPoint} rw,relatime - cgroup cgroup rw,${h.controllers.join(',')}`),
      `50 31 0:50 / ${join(fsRoot, 'systemd')} rw,relatime - cgroup cgroup rw,name=systemd`,
      `51 31 0:51 / ${join(fsRoot, 'unified')} rw,relatime - cgroup2 cgroup2 rw`,
    ];
    await tree.initialise(mountLines);
    const ownPaths = { cpu: '/', cpuacct: '/', memory: '/session/own', pids: '/', ...options.ownPaths };
    for (const path of new Set(Object.values(ownPaths))) {
      for (const h of hierarchies) await tree.files.mkdir(join(h.mountPoint, path));
    }
    await tree.spawn(FAKE_OWN_PID, ownPaths);
    await symlink(String(FAKE_OWN_PID), join(tree.procRoot, 'self'));
    return tree;
  }

  /**
   * A unified host; the own process sits at `ownPath` (default the root, which is exempt from
   * the no-internal-processes rule). The root offers cpu, memory and pids but delegates none.
   */
  static async v2(options: { ownPath?: string } = {}): Promise<FakeCgroupTree> {
    const base = await mkdtemp(join(tmpdir(), 'gureum-cgroups-v2-'));
    const fsRoot = join(base, 'sys/fs/cgroup');
    const tree = new FakeCgroupTree(base, 2, [{ id: 0, mountPoint: fsRoot, controllers: ['cpu', 'memory', 'pids'] }]);
    await tree.initialise([
      `22 1 8:1 / / rw,relatime - ext4 /dev/vda rw`,
      `31 22 0:28 / ${fsRoot} rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate`,
    ]);
    const ownPath = options.ownPath ?? '/';
    if (ownPath !== '/') {
      await tree.write(join(fsRoot, 'cgroup.subtree_control'), '+cpu +memory +pids');
      await tree.files.mkdir(join(fsRoot, ownPath));
    }
    await tree.spawn(FAKE_OWN_PID, { unified: ownPath });
    await symlink(String(FAKE_OWN_PID), join(tree.procRoot, 'self'));
    return tree;
  }

  /** Registers a process at the given per-controller paths (v2: key `unified`). */
  async spawn(pid: number, paths: Record<string, string>): Promise<void> {
    const memberships = new Map<number, string>();
    for (const h of this.hierarchies) {
      const path = this.version === 2 ? paths['unified'] : h.controllers.map((c) => paths[c]).find((p) => p !== undefined);
      memberships.set(h.id, path ?? '/');
    }
    this.membership.set(pid, memberships);
    await this.syncProcess(pid);
  }

  async exit(pid: number): Promise<void> {
    const memberships = this.membership.get(pid);
    this.membership.delete(pid);
    await rm(join(this.procRoot, String(pid)), { recursive: true, force: true });
    for (const [id, path] of memberships ?? []) await this.syncMembers(this.hierarchy(id), path);
  }

  /** Sets a control file the way the kernel would update a counter. */
  async setFile(directory: string, file: string, content: string): Promise<void> {
    await writeFile(join(directory, file), content);
  }

  async readFile(directory: string, file: string): Promise<string> {
    return (await readFile(join(directory, file), 'utf8')).trim();
  }

  async removeFile(directory: string, file: string): Promise<void> {
    await rm(join(directory, file));
  }

  mountPointOf(controller: string): string {
    const hierarchy = this.hierarchies.find((h) => this.version === 2 || h.controllers.includes(controller));
    if (!hierarchy) throw new Error(`no fake hierarchy for ${controller}`);
    return hierarchy.mountPoint;
  }

  async dispose(): Promise<void> {
    await rm(this.base, { recursive: true, force: true });
  }

  private async initialise(mountLines: string[]): Promise<void> {
    await mkdir(this.procRoot, { recursive: true });
    this.mountInfo = `${mountLines.join('\n')}\n`;
    for (const h of this.hierarchies) {
      await mkdir(h.mountPoint, { recursive: true });
      await this.populate(h, h.mountPoint, true);
    }
  }

  private hierarchy(id: number): FakeHierarchy {
    return this.hierarchies.find((h) => h.id === id)!;
  }

  private hierarchyOf(directory: string): FakeHierarchy {
    const found = this.hierarchies.find((h) => directory === h.mountPoint || directory.startsWith(`${h.mountPoint}/`));
    if (!found) throw Object.assign(new Error(`ENOENT: not in a fake hierarchy: ${directory}`), { code: 'ENOENT' });
    return found;
  }

  private cgroupPath(h: FakeHierarchy, directory: string): string {
    return `/${relative(h.mountPoint, directory)}`;
  }

  private async populate(h: FakeHierarchy, directory: string, isRoot: boolean): Promise<void> {
    const files: Record<string, string> = { 'cgroup.procs': '' };
    if (this.version === 1) {
      files['tasks'] = '';
      for (const controller of h.controllers) Object.assign(files, V1_FILES[controller]);
      if (isRoot) {
        delete files['pids.max'];
        delete files['pids.current'];
      }
    } else {
      const offered = isRoot ? h.controllers : await this.words(join(dirname(directory), 'cgroup.subtree_control'));
      Object.assign(files, V2_CORE_FILES, { 'cgroup.controllers': offered.join(' '), 'cgroup.subtree_control': '' });
      if (!isRoot) for (const controller of offered) Object.assign(files, V2_FILES[controller]);
    }
    for (const [file, content] of Object.entries(files)) await writeFile(join(directory, file), content);
  }

  private async mkdir(directory: string): Promise<void> {
    const h = this.hierarchyOf(directory);
    const missing: string[] = [];
    for (let current = directory; !(await exists(current)); current = dirname(current)) missing.unshift(current);
    for (const level of missing) {
      await mkdir(level);
      await this.populate(h, level, false);
    }
  }

  private async rmdir(directory: string): Promise<void> {
    if (!(await exists(directory))) throw Object.assign(new Error(`ENOENT: ${directory}`), { code: 'ENOENT' });
    const entries = await readdir(directory, { withFileTypes: true });
    const hasChildren = entries.some((entry) => entry.isDirectory());
    const hasMembers = (await this.words(join(directory, 'cgroup.procs'))).length > 0;
    if (hasChildren || hasMembers) throw Object.assign(new Error(`EBUSY: ${directory}`), { code: 'EBUSY' });
    await rm(directory, { recursive: true });
  }

  private async write(path: string, value: string): Promise<void> {
    const directory = dirname(path);
    const h = this.hierarchyOf(directory);
    if (basename(path) === 'cgroup.procs') {
      const pid = Number(value);
      const memberships = this.membership.get(pid);
      if (!memberships) throw Object.assign(new Error(`ESRCH: ${pid}`), { code: 'ESRCH' });
      if (!(await exists(path))) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
      const previous = memberships.get(h.id)!;
      memberships.set(h.id, this.cgroupPath(h, directory));
      await this.syncMembers(h, previous);
      await this.syncProcess(pid);
      return;
    }
    if (this.version === 2 && basename(path) === 'cgroup.subtree_control') {
      const isRoot = directory === h.mountPoint;
      if (!isRoot && (await this.words(join(directory, 'cgroup.procs'))).length > 0) {
        throw Object.assign(new Error(`EBUSY: ${path}`), { code: 'EBUSY' });
      }
      const enabled = new Set(await this.words(path));
      for (const token of value.split(/\s+/).filter(Boolean)) {
        if (token.startsWith('+')) enabled.add(token.slice(1));
        else if (token.startsWith('-')) enabled.delete(token.slice(1));
      }
      await nodeCgroupFiles.write(path, [...enabled].join(' '));
      for (const entry of await readdir(directory, { withFileTypes: true })) {
        if (!entry.isDirectory()) continue;
        const child = join(directory, entry.name);
        await writeFile(join(child, 'cgroup.controllers'), [...enabled].join(' '));
        for (const controller of enabled) {
          for (const [file, content] of Object.entries(V2_FILES[controller] ?? {})) {
            if (!(await exists(join(child, file)))) await writeFile(join(child, file), content);
          }
        }
      }
      return;
    }
    await nodeCgroupFiles.write(path, value);
  }

  private async syncProcess(pid: number): Promise<void> {
    const memberships = this.membership.get(pid)!;
    const lines = this.hierarchies.map((h) =>
      this.version === 2 ? `0::${memberships.get(h.id)}` : `${h.id}:${h.controllers.join(',')}:${memberships.get(h.id)}`,
    );
    if (this.version === 1) lines.push(`${this.hierarchies.length + 1}:name=systemd:/`, '0::/');
    const procDirectory = join(this.procRoot, String(pid));
    await mkdir(procDirectory, { recursive: true });
    await writeFile(join(procDirectory, 'cgroup'), `${lines.join('\n')}\n`);
    await writeFile(join(procDirectory, 'mountinfo'), this.mountInfo);
    for (const h of this.hierarchies) await this.syncMembers(h, memberships.get(h.id)!);
  }

  /** Rewrites cgroup.procs of one group from the membership table. */
  private async syncMembers(h: FakeHierarchy, cgroupPath: string): Promise<void> {
    const directory = join(h.mountPoint, cgroupPath);
    if (!(await exists(directory))) return;
    const members = [...this.membership].filter(([, m]) => m.get(h.id) === cgroupPath).map(([pid]) => pid);
    await writeFile(join(directory, 'cgroup.procs'), members.map((pid) => `${pid}\n`).join(''));
  }

  private async words(path: string): Promise<string[]> {
    try {
      return (await readFile(path, 'utf8')).split(/\s+/).filter(Boolean);
    } catch {
      return [];
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
