import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { ErrorCode, GureumError, type Caller, type OperatorCaller } from '@gureum/contracts';
import { isTenantPrincipal, type Principal } from './principal';
import { contextOf, type HttpRequest, type RequestContext } from '../http/http-context';

/**
 * The caller as every tenant command carries it to other services. Only valid behind
 * AccessGuard on a route that admits tenant roles alone.
 */
export const TenantCaller = createParamDecorator((_data: unknown, execution: ExecutionContext): Caller => {
  const context = contextOf(execution.switchToHttp().getRequest<HttpRequest>());
  const principal = context.principal;
  if (!principal || !isTenantPrincipal(principal)) {
    throw new GureumError(ErrorCode.Internal, 'TenantCaller used on a route that does not require a tenant principal');
  }
  return { principalId: principal.principalId, tenantId: principal.tenantId, role: principal.role, requestId: context.requestId };
});

/** The authenticated principal of the request (any role). Only valid on routes with a policy that requires one. */
export const CurrentPrincipal = createParamDecorator((_data: unknown, execution: ExecutionContext): Principal => {
  const principal = contextOf(execution.switchToHttp().getRequest<HttpRequest>()).principal;
  if (!principal) throw new GureumError(ErrorCode.Internal, 'CurrentPrincipal used on a public route');
  return principal;
});

/** The request context (request id, audit fields). */
export const Context = createParamDecorator((_data: unknown, execution: ExecutionContext): RequestContext => contextOf(execution.switchToHttp().getRequest<HttpRequest>()));

/** The operator as operator commands carry it to other services. */
export const OperatorCallerParam = createParamDecorator((_data: unknown, execution: ExecutionContext): OperatorCaller => {
  const context = contextOf(execution.switchToHttp().getRequest<HttpRequest>());
  const principal = context.principal;
  if (!principal || principal.role !== 'operator') throw new GureumError(ErrorCode.Internal, 'OperatorCallerParam used on a route that does not require an operator');
  return { principalId: principal.principalId, role: 'operator', requestId: context.requestId };
});
