import { OciError } from '../distribution/oci-error';
import { tokenPermits, type RepositoryAction } from './access';
import { REGISTRY_SERVICE } from './issue-token.usecase';
import type { PrincipalCheck } from './principal-check';
import type { TokenClaims, TokenSigner } from './token';

/**
 * Checks a `/v2/` request's bearer token. No or a bad token: 401 with the challenge that
 * sends the client to the token endpoint for exactly this scope. A good token without the
 * action: 403 DENIED — the client already holds all this principal may have.
 */
export class RequestAuthorizer {
  constructor(
    private readonly signer: TokenSigner,
    /** Checks on use that the credential a token came from is still good (revocation); none: trust the token. */
    private readonly principals?: PrincipalCheck,
  ) {}

  async authenticate(
    authorization: string | undefined,
    realm: string,
    scope: { name: string; actions: RepositoryAction[]; also?: { name: string; actions: RepositoryAction[] } } | null,
  ): Promise<TokenClaims> {
    const match = authorization ? /^Bearer\s+(\S+)$/i.exec(authorization.trim()) : null;
    let claims = match ? this.signer.verify(match[1] as string, REGISTRY_SERVICE, Math.floor(Date.now() / 1000)) : null;
    if (claims && this.principals && !(await this.principals.isActive(claims))) claims = null;
    if (!claims) {
      const challenge = [`realm="${realm}"`, `service="${REGISTRY_SERVICE}"`];
      if (scope) {
        const scopes = [scope, ...(scope.also ? [scope.also] : [])].map((entry) => `repository:${entry.name}:${entry.actions.join(',')}`);
        challenge.push(`scope="${scopes.join(' ')}"`);
      }
      if (match) challenge.push('error="invalid_token"');
      throw new OciError('UNAUTHORIZED', 'authentication required', scope ? [{ Type: 'repository', Name: scope.name, Action: scope.actions.join(',') }] : null, 401, {
        'WWW-Authenticate': `Bearer ${challenge.join(',')}`,
      });
    }
    return claims;
  }

  authorize(claims: TokenClaims, name: string, action: RepositoryAction): void {
    if (!tokenPermits(claims.access, name, action)) {
      throw new OciError('DENIED', `requested access to the resource is denied`, { name, action });
    }
  }
}
