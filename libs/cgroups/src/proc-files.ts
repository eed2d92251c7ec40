/** One line of /proc/<pid>/mountinfo, reduced to what cgroup resolution needs. */
export interface MountInfoEntry {
  /** Path inside the mounted filesystem that is visible at the mount point. */
  root: string;
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

/** One line of /proc/<pid>/cgroup: `hierarchy-id:controller,list:/path`. */
export interface ProcCgroupEntry {
  hierarchyId: number;
  /** Empty for the v2 unified hierarchy (`0::/path`); may hold `name=systemd` on v1. */
  controllers: string[];
  path: string;
}

/** mountinfo escapes space, tab, newline and backslash as three-digit octal (`\040`). */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_match, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

export function parseMountInfo(text: string): MountInfoEntry[] {
  const entries: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    // Fields: id parent major:minor root mount-point options [optional fields...] - fstype source super-options
    const separator = line.indexOf(' - ');
    if (separator < 0) continue;
    const before = line.slice(0, separator).split(' ');
    const after = line.slice(separator + 3).split(' ');
    if (before.length < 6 || after.length < 3) continue;
    entries.push({
      root: unescapeMountField(before[3]!),
      mountPoint: unescapeMountField(before[4]!),
      fsType: after[0]!,
      superOptions: after[2]!.split(','),
    });
  }
  return entries;
}

export function parseProcCgroup(text: string): ProcCgroupEntry[] {
  const entries: ProcCgroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const firstColon = line.indexOf(':');
    const secondColon = line.indexOf(':', firstColon + 1);
    if (firstColon < 0 || secondColon < 0) continue;
    const controllers = line.slice(firstColon + 1, secondColon);
    entries.push({
      hierarchyId: Number(line.slice(0, firstColon)),
      controllers: controllers === '' ? [] : controllers.split(','),
      // A path can itself contain ':', so everything after the second colon belongs to it.
      path: line.slice(secondColon + 1),
    });
  }
  return entries;
}

/** Host directory of `cgroupPath` under a mount, or null when the mount does not expose it. */
export function hostDirectoryFor(mount: MountInfoEntry, cgroupPath: string): string | null {
  const root = mount.root === '/' ? '' : mount.root.replace(/\/+$/, '');
  if (cgroupPath !== root && !cgroupPath.startsWith(`${root}/`)) return null;
  const relative = cgroupPath.slice(root.length).replace(/\/+$/, '');
  return `${mount.mountPoint.replace(/\/+$/, '')}${relative}`;
}

export function isAtOrBelow(candidate: string, directory: string): boolean {
  const base = directory.replace(/\/+$/, '');
  return candidate === base || candidate.startsWith(`${base}/`);
}
