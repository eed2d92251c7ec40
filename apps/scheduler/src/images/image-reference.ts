/**
 * Image references as Docker parses them: the first path component names a registry when it
 * contains `.` or `:` or is `localhost` (`127.0.0.1:5000/acme/app:1`); otherwise the image
 * is a bare name (`gureum/busybox`) that must already be on a host.
 */
export interface RegistryImage {
  /** `host[:port]` as written in the reference. */
  registry: string;
  /** The repository inside that registry, without tag or digest (`acme/app`). */
  repository: string;
}

export function registryImageOf(image: string): RegistryImage | null {
  const slash = image.indexOf('/');
  if (slash < 0) return null;
  const first = image.slice(0, slash);
  if (!(first.includes('.') || first.includes(':') || first === 'localhost')) return null;
  let rest = image.slice(slash + 1);
  const at = rest.indexOf('@');
  if (at >= 0) rest = rest.slice(0, at);
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', lastSlash + 1);
  if (colon >= 0) rest = rest.slice(0, colon);
  return { registry: first, repository: rest };
}

/** Whether the agent pulls the image (it names a registry) rather than finding it on the host. */
export function isPulledImage(image: string): boolean {
  return registryImageOf(image) !== null;
}
