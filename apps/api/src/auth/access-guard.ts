import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { ErrorCode, GureumError } from '@gureum/contracts';
import { ApiKeyVerifier, type ApiKeyRejection } from './api-key-verifier';
import { policyOf } from './policy';
import type { Principal } from './principal';
import { RateLimitedError, retryAfterSeconds } from './rate-limited.error';
import { RateLimiter, SourceFailureLimiter } from './rate-limiter';
import { contextOf, type HttpRequest } from '../http/http-context';
import { isAccessToken, SessionService } from '../sessions/session.service';

const REJECTION_DETAIL: Record<Exclude<ApiKeyRejection, 'tenant_suspended'>, string> = {
  malformed: 'the API key is not valid',
  unknown: 'the API key is not valid',
  wrong_secret: 'the API key is not valid',
  // Only said to a caller who proved they hold the secret.
  expired: 'the API key has expired',
  revoked: 'the API key has been revoked',
};

/**
 * The one guard of the HTTP API, applied globally. It finds the route's entry in the policy
 * table (API_ROUTES), authenticates the bearer credential (API key or session access token),
 * applies the per-credential rate limit, blocks writes of suspended tenants, and checks the
 * role. A route missing from the table is refused here, and the app does not even start
 * with one (assertEveryRouteHasPolicy).
 */
@Injectable()
export class AccessGuard implements CanActivate {
  constructor(
    @Inject(ApiKeyVerifier) private readonly apiKeys: ApiKeyVerifier,
    @Inject(SessionService) private readonly sessions: SessionService,
    @Inject(RateLimiter) private readonly perCredential: RateLimiter,
    @Inject(SourceFailureLimiter) private readonly failuresBySource: SourceFailureLimiter,
  ) {}

  async canActivate(execution: ExecutionContext): Promise<boolean> {
    if (execution.getType() !== 'http') return true;
    const request = execution.switchToHttp().getRequest<HttpRequest>();
    const policy = policyOf(request.method ?? 'GET', request.route?.path ?? '');
    if (!policy) throw new GureumError(ErrorCode.Internal, `route ${request.method} ${request.route?.path} has no policy entry`);
    if (policy.roles === null) return true;

    const context = contextOf(request);
    const presented = bearerToken(request.headers.authorization);
    const source = request.socket.remoteAddress ?? 'unknown';
    const blocked = this.failuresBySource.peek(source);
    if (blocked > 0) throw new RateLimitedError('too many failed credential checks from this address', retryAfterSeconds(blocked));
    let authenticated: BearerAuthentication;
    try {
      authenticated = await authenticateBearer(this.apiKeys, this.sessions, presented);
    } catch (error) {
      if (error instanceof GureumError && error.code === ErrorCode.Unauthenticated) this.failuresBySource.take(source);
      throw error;
    }
    const { principal, tenantActive, sessionId } = authenticated;
    context.principal = principal;
    context.sessionId = sessionId;

    const wait = this.perCredential.take(`${principal.kind}:${principal.principalId}`);
    if (wait > 0) throw new RateLimitedError('too many requests with this credential', retryAfterSeconds(wait));

    if (!policy.roles.includes(principal.role)) {
      if (principal.role === 'operator') {
        throw new GureumError(ErrorCode.Forbidden, 'operators have no tenant; use a credential of the tenant to call tenant routes');
      }
      throw new GureumError(ErrorCode.Forbidden, `the ${principal.role} role may not do this; it needs one of: ${policy.roles.join(', ')}`);
    }
    if (!tenantActive && policy.method !== 'get') throw new GureumError(ErrorCode.Forbidden, 'the tenant is suspended: it may read but not change anything');
    return true;
  }
}

export interface BearerAuthentication {
  principal: Principal;
  tenantActive: boolean;
  sessionId: string | null;
}

/**
 * Authenticates a bearer credential (API key or session access token), reading revocation,
 * expiry and the tenant's state fresh. Throws `unauthenticated`. Also used by open event
 * streams to re-check the credential they were opened with.
 */
export async function authenticateBearer(apiKeys: ApiKeyVerifier, sessions: SessionService, presented: string): Promise<BearerAuthentication> {
  if (isAccessToken(presented)) {
    const session = await sessions.authenticate(presented);
    if (!session.ok) throw new GureumError(ErrorCode.Unauthenticated, 'the access token is not valid or has expired');
    return { principal: session.principal, tenantActive: session.tenantActive, sessionId: session.sessionId };
  }
  const result = await apiKeys.verify(presented);
  if (result.ok) return { principal: result.principal, tenantActive: true, sessionId: null };
  if (result.reason === 'tenant_suspended') return { principal: result.principal, tenantActive: false, sessionId: null };
  throw new GureumError(ErrorCode.Unauthenticated, REJECTION_DETAIL[result.reason]);
}

export function bearerToken(header: string | undefined): string {
  if (!header) throw new GureumError(ErrorCode.Unauthenticated, 'a credential is required: send "Authorization: Bearer <api key or access token>"');
  const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header);
  if (!match) throw new GureumError(ErrorCode.Unauthenticated, 'the Authorization header must be "Bearer <api key or access token>"');
  return match[1]!;
}
