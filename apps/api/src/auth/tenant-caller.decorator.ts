import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { ErrorCode, GureumError, type Caller } from '@gureum/contracts';
import { isTenantPrincipal } from './principal';
import { contextOf, type HttpRequest } from '../http/http-context';

/**
 * The caller as every tenant command carries it to other services. Only valid behind
 * ApiKeyGuard on a route that admits tenant roles alone.
 */
export const TenantCaller = createParamDecorator((_data: unknown, execution: ExecutionContext): Caller => {
  const context = contextOf(execution.switchToHttp().getRequest<HttpRequest>());
  const principal = context.principal;
  if (!principal || !isTenantPrincipal(principal)) {
    throw new GureumError(ErrorCode.Internal, 'TenantCaller used on a route that does not require a tenant principal');
  }
  return { principalId: principal.principalId, tenantId: principal.tenantId, role: principal.role, requestId: context.requestId };
});
