import { OciClientError } from './registry-client';

/** `host[:port]/repo/path[:tag|@digest]`, optionally prefixed by `http://` or `https://`. */
export interface ImageReference {
  /** e.g. `http://127.0.0.1:5000`. */
  baseUrl: string;
  repository: string;
  /** A tag or a `sha256:` digest. */
  reference: string;
}

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/;

/**
 * Parses an image reference. Without a scheme, loopback registries are plain HTTP (as Docker
 * treats them) and everything else HTTPS. The tag defaults to `latest`.
 */
export function parseImageReference(ref: string): ImageReference {
  let rest = ref;
  let scheme: string | null = null;
  const schemeMatch = /^(https?):\/\//.exec(rest);
  if (schemeMatch) {
    scheme = schemeMatch[1] as string;
    rest = rest.slice(schemeMatch[0].length);
  }
  const slash = rest.indexOf('/');
  if (slash <= 0) throw new OciClientError(`image reference ${ref} must name the registry host: host[:port]/repository[:tag|@digest]`);
  const host = rest.slice(0, slash);
  let path = rest.slice(slash + 1);
  let reference = 'latest';
  const at = path.indexOf('@');
  if (at >= 0) {
    reference = path.slice(at + 1);
    path = path.slice(0, at);
    if (!/^sha256:[a-f0-9]{64}$/.test(reference)) throw new OciClientError(`image reference ${ref} has an unsupported digest`);
  } else {
    const colon = path.lastIndexOf(':');
    if (colon > path.lastIndexOf('/')) {
      reference = path.slice(colon + 1);
      path = path.slice(0, colon);
    }
  }
  if (!/^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$/.test(path)) throw new OciClientError(`image reference ${ref} has an invalid repository name`);
  if (!/^(sha256:[a-f0-9]{64}|[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127})$/.test(reference)) throw new OciClientError(`image reference ${ref} has an invalid tag`);
  const protocol = scheme ?? (LOOPBACK.test(host) ? 'http' : 'https');
  return { baseUrl: `${protocol}://${host}`, repository: path, reference };
}
