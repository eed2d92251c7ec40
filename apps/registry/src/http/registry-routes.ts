import type { RepositoryAction } from '../auth/access';

/** The endpoints of the OCI Distribution API (spec "Endpoints" table), by the path shape they match. */
export type Route =
  | { kind: 'base' }
  | { kind: 'token' }
  | { kind: 'uploads'; name: string }
  | { kind: 'upload'; name: string; uploadId: string }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'manifest'; name: string; reference: string }
  | { kind: 'tags'; name: string }
  | { kind: 'referrers'; name: string; digest: string };

const REPOSITORY_PATH = /^\/v2\/(.+?)\/(?:(blobs\/uploads\/?)|blobs\/uploads\/([^/]+)|blobs\/([^/]+)|manifests\/([^/]+)|(tags\/list)|referrers\/([^/]+))$/;

export function matchRoute(pathname: string): Route | null {
  if (pathname === '/v2/' || pathname === '/v2') return { kind: 'base' };
  if (pathname === '/token') return { kind: 'token' };
  const match = REPOSITORY_PATH.exec(pathname);
  if (!match) return null;
  const name = match[1] as string;
  if (match[2] !== undefined) return { kind: 'uploads', name };
  if (match[3] !== undefined) return { kind: 'upload', name, uploadId: match[3] };
  if (match[4] !== undefined) return { kind: 'blob', name, digest: match[4] };
  if (match[5] !== undefined) return { kind: 'manifest', name, reference: match[5] };
  if (match[6] !== undefined) return { kind: 'tags', name };
  return { kind: 'referrers', name, digest: match[7] as string };
}

/** What a request needs from the token: reads pull, writes push, deletes delete. */
export function requiredAction(route: Route, method: string): RepositoryAction {
  if (method === 'DELETE' && (route.kind === 'blob' || route.kind === 'manifest')) return 'delete';
  if (route.kind === 'uploads' || route.kind === 'upload') return 'push';
  if (route.kind === 'manifest' && method === 'PUT') return 'push';
  return 'pull';
}

/** The scope the 401 challenge names: what a client doing this would ask for. */
export function challengeActions(action: RepositoryAction): RepositoryAction[] {
  if (action === 'push') return ['pull', 'push'];
  return [action];
}
