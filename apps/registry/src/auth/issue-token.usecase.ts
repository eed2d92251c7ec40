import { ErrorCode, GureumError, type Principal } from '@gureum/contracts';
import type { Bus } from '@gureum/messaging';
import type { Logger } from '@gureum/runtime';
import type { DataSource } from 'typeorm';
import { OciError } from '../distribution/oci-error';
import { publicRepositories } from '../repositories/repository.store';
import { grantAccess, grantAnonymousAccess, parseScopes } from './access';
import type { TokenSigner } from './token';

export const REGISTRY_SERVICE = 'gureum-registry';

/** `sub` of a token issued without credentials. */
export const ANONYMOUS_SUBJECT = 'anonymous';

/** API keys as the api issues them; anything else in the password field is a user's password. */
const API_KEY = /^grm_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/;

export interface TokenResponse {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
}

/**
 * The token endpoint (Docker token authentication): Basic credentials are verified by the
 * api — the owner of identities — over NATS; the token lists only the actions the principal
 * may have on the repositories it asked for (none at all for a plain `docker login`).
 * A request without any Authorization header gets an anonymous token: pull on the
 * requested repositories that are public, as Docker Hub does.
 */
export class IssueToken {
  constructor(
    private readonly bus: Bus,
    private readonly dataSource: DataSource,
    private readonly signer: TokenSigner,
    private readonly logger: Logger,
  ) {}

  async execute(command: { authorization: string | undefined; service: string | undefined; scopes: string[]; sourceAddress?: string }): Promise<TokenResponse> {
    if (command.service !== undefined && command.service !== REGISTRY_SERVICE) {
      throw new OciError('UNAUTHORIZED', `tokens are issued for service ${REGISTRY_SERVICE} only`, { service: command.service });
    }
    const requested = parseScopes(command.scopes);
    const publicNames = await publicRepositories(this.dataSource.manager, requested.map((scope) => scope.name));
    const nowSeconds = Math.floor(Date.now() / 1000);
    if (command.authorization === undefined || command.authorization.trim() === '') {
      // No credentials at all: an anonymous token that can pull public repositories only.
      const access = grantAnonymousAccess(requested, (name) => publicNames.has(name));
      const { token, expiresIn } = this.signer.sign({ sub: ANONYMOUS_SUBJECT, aud: REGISTRY_SERVICE, access, tenant: null, tenantId: null }, nowSeconds);
      this.logger.debug({ requested: command.scopes, granted: access }, 'anonymous registry token issued');
      return { token, access_token: token, expires_in: expiresIn, issued_at: new Date(nowSeconds * 1000).toISOString() };
    }
    const basic = parseBasic(command.authorization);
    if (!basic) throw new OciError('UNAUTHORIZED', 'credentials required: docker login with an API key as the password');
    const principal = await this.verify(basic, command.sourceAddress);
    const access = grantAccess(principal, requested, (name) => publicNames.has(name));
    const { token, expiresIn } = this.signer.sign(
      { sub: principal.principalId, aud: REGISTRY_SERVICE, access, tenant: principal.tenantName, tenantId: principal.tenantId, kind: principal.kind },
      nowSeconds,
    );
    this.logger.info({ principalId: principal.principalId, tenant: principal.tenantName, requested: command.scopes, granted: access }, 'registry token issued');
    return { token, access_token: token, expires_in: expiresIn, issued_at: new Date(nowSeconds * 1000).toISOString() };
  }

  private async verify(basic: { username: string; password: string }, sourceAddress: string | undefined): Promise<Principal> {
    const credential = API_KEY.test(basic.password)
      ? { kind: 'apiKey' as const, apiKey: basic.password }
      : { kind: 'password' as const, login: basic.username, password: basic.password };
    try {
      return await this.bus.request('identity.cmd.credentials.verify.v1', {
        credential,
        via: 'registry',
        ...(sourceAddress ? { sourceAddress: sourceAddress.slice(0, 64) } : {}),
      });
    } catch (error) {
      if (error instanceof GureumError && (error.code === ErrorCode.Unauthenticated || error.code === ErrorCode.ValidationFailed)) {
        throw new OciError('UNAUTHORIZED', 'invalid credentials');
      }
      if (error instanceof GureumError && error.code === ErrorCode.RateLimited) {
        // Throttled is not "invalid credentials": 429 with Retry-After lets the client wait and retry.
        const seconds = Number(error.details?.['retryAfterSeconds']);
        const retryAfter = Number.isSafeInteger(seconds) && seconds > 0 ? seconds : 1;
        throw new OciError('TOOMANYREQUESTS', 'too many token requests; retry later', { retryAfterSeconds: retryAfter }, 429, { 'Retry-After': String(retryAfter) });
      }
      if (error instanceof GureumError && (error.code === ErrorCode.Unavailable || error.code === ErrorCode.Timeout)) {
        this.logger.warn({ err: error }, 'identity service unavailable; cannot issue tokens');
        throw new OciError('UNAUTHORIZED', 'authentication is temporarily unavailable', null, 503);
      }
      throw error;
    }
  }
}

function parseBasic(header: string | undefined): { username: string; password: string } | null {
  const match = header ? /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header.trim()) : null;
  if (!match) return null;
  const decoded = Buffer.from(match[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  const username = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  return username.length > 0 && password.length > 0 ? { username, password } : null;
}
