import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ErrorCode, GureumError } from '@gureum/contracts';
import { AllowRoles } from './allow-roles.decorator';
import { ApiKeyVerifier, type ApiKeyRejection } from './api-key-verifier';
import { contextOf, type HttpRequest } from '../http/http-context';

const REJECTION_DETAIL: Record<ApiKeyRejection, string> = {
  malformed: 'the API key is not valid',
  unknown: 'the API key is not valid',
  wrong_secret: 'the API key is not valid',
  // Only said to a caller who proved they hold the secret.
  expired: 'the API key has expired',
  revoked: 'the API key has been revoked',
  tenant_suspended: 'the tenant is suspended',
};

/** Authenticates the `Authorization: Bearer <api key>` header and applies the route's role policy. */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    @Inject(ApiKeyVerifier) private readonly verifier: ApiKeyVerifier,
    @Inject(Reflector) private readonly reflector: Reflector,
  ) {}

  async canActivate(execution: ExecutionContext): Promise<boolean> {
    const request = execution.switchToHttp().getRequest<HttpRequest>();
    const presented = bearerToken(request.headers.authorization);
    const result = await this.verifier.verify(presented);
    if (!result.ok) {
      const code = result.reason === 'tenant_suspended' ? ErrorCode.Forbidden : ErrorCode.Unauthenticated;
      throw new GureumError(code, REJECTION_DETAIL[result.reason]);
    }
    const principal = result.principal;
    contextOf(request).principal = principal;

    const allowed = this.reflector.getAllAndOverride(AllowRoles, [execution.getHandler(), execution.getClass()]);
    if (!allowed) throw new GureumError(ErrorCode.Internal, `route ${execution.getClass().name}.${execution.getHandler().name} has no role policy`);
    if (allowed.includes(principal.role)) return true;
    if (principal.role === 'operator') {
      throw new GureumError(ErrorCode.Forbidden, 'operator keys have no tenant; use an API key of the tenant to call tenant routes');
    }
    throw new GureumError(ErrorCode.Forbidden, `the ${principal.role} role may not do this; it needs one of: ${allowed.join(', ')}`);
  }
}

function bearerToken(header: string | undefined): string {
  if (!header) throw new GureumError(ErrorCode.Unauthenticated, 'an API key is required: send "Authorization: Bearer <api key>"');
  const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header);
  if (!match) throw new GureumError(ErrorCode.Unauthenticated, 'the Authorization header must be "Bearer <api key>"');
  return match[1]!;
}
