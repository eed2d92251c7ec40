import type { Principal } from '@gureum/contracts';
import type { TokenAccess } from './token';

export type RepositoryAction = 'pull' | 'push' | 'delete';
const ALL_ACTIONS: RepositoryAction[] = ['pull', 'push', 'delete'];

export interface RequestedScope {
  type: string;
  name: string;
  actions: string[];
}

/**
 * Parses the `scope` parameters of a token request: `repository:<name>:<action>[,<action>]`.
 * Anything that is not `type:name:actions` is ignored (granting nothing), as Distribution does.
 */
export function parseScopes(scopes: readonly string[]): RequestedScope[] {
  const parsed: RequestedScope[] = [];
  for (const scope of scopes) {
    for (const item of scope.split(' ')) {
      const first = item.indexOf(':');
      const last = item.lastIndexOf(':');
      if (first <= 0 || last === first) continue;
      const type = item.slice(0, first);
      const name = item.slice(first + 1, last);
      const actions = item
        .slice(last + 1)
        .split(',')
        .filter((action) => action.length > 0);
      if (name.length > 0 && actions.length > 0) parsed.push({ type, name, actions });
    }
  }
  return parsed;
}

/**
 * What a principal may do in a repository. A tenant owns `<tenantName>/…`: owners and
 * members pull, push and delete there, viewers only pull. Everyone may pull a public
 * repository. Operators may do everything everywhere.
 */
export function allowedActions(principal: Principal, repositoryName: string, isPublic: boolean): RepositoryAction[] {
  if (principal.role === 'operator') return [...ALL_ACTIONS];
  const namespace = repositoryName.split('/')[0];
  if (principal.tenantName !== null && namespace === principal.tenantName) {
    return principal.role === 'viewer' ? ['pull'] : [...ALL_ACTIONS];
  }
  return isPublic ? ['pull'] : [];
}

/**
 * The `access` claim for a token request: for each requested repository scope, the
 * intersection of what was asked and what is allowed (`*` asks for everything allowed).
 */
export function grantAccess(principal: Principal, requested: readonly RequestedScope[], isPublic: (name: string) => boolean): TokenAccess[] {
  const granted = new Map<string, Set<string>>();
  for (const scope of requested) {
    if (scope.type !== 'repository') continue;
    const allowed = allowedActions(principal, scope.name, isPublic(scope.name));
    const actions = scope.actions.includes('*') ? allowed : allowed.filter((action) => scope.actions.includes(action));
    if (actions.length === 0) continue;
    const set = granted.get(scope.name) ?? new Set<string>();
    for (const action of actions) set.add(action);
    granted.set(scope.name, set);
  }
  return [...granted].map(([name, actions]) => ({ type: 'repository', name, actions: [...actions].sort() }));
}

/**
 * The `access` claim for a request without credentials (Docker Hub's anonymous pull): pull
 * on the requested repositories that are public, nothing else — never push or delete.
 */
export function grantAnonymousAccess(requested: readonly RequestedScope[], isPublic: (name: string) => boolean): TokenAccess[] {
  const names = new Set<string>();
  for (const scope of requested) {
    if (scope.type !== 'repository' || !isPublic(scope.name)) continue;
    if (scope.actions.includes('pull') || scope.actions.includes('*')) names.add(scope.name);
  }
  return [...names].map((name) => ({ type: 'repository', name, actions: ['pull'] }));
}

/** Whether a token's access claim covers `action` on `repositoryName`. */
export function tokenPermits(access: readonly TokenAccess[], repositoryName: string, action: RepositoryAction): boolean {
  return access.some((entry) => entry.type === 'repository' && entry.name === repositoryName && (entry.actions.includes(action) || entry.actions.includes('*')));
}
