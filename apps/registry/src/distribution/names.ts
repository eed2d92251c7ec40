import { OciError } from './oci-error';

/** The spec's `<name>` grammar: path components joined by `/`. */
const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const MAX_NAME_LENGTH = 255;

export interface RepositoryName {
  /** The full name, e.g. `acme/web/frontend`. */
  full: string;
  /** The first component: the tenant that owns it. */
  namespace: string;
}

/**
 * Parses a repository name. Gureum additionally requires a namespace: `<tenant>/<repo>`,
 * so every repository belongs to exactly one tenant.
 */
export function parseRepositoryName(name: string): RepositoryName {
  if (name.length === 0 || name.length > MAX_NAME_LENGTH || !NAME.test(name)) {
    throw new OciError('NAME_INVALID', 'invalid repository name', { name });
  }
  const slash = name.indexOf('/');
  if (slash < 0) throw new OciError('NAME_INVALID', 'repository names are <tenant>/<repository>', { name });
  return { full: name, namespace: name.slice(0, slash) };
}

export function isValidTag(reference: string): boolean {
  return TAG.test(reference);
}
