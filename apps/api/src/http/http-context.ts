import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Principal } from '../auth/principal';

/**
 * What the api knows about a request beyond HTTP: its id, who is calling and how it ended.
 * Attached by the first middleware, read by the guard, the filter and the access log.
 */
export interface RequestContext {
  requestId: string;
  startedAt: bigint;
  principal: Principal | null;
  /** The login session the request came with (access token), if any. */
  sessionId: string | null;
  /** What the audit trail names as the object of a mutating call, set by its handler. */
  auditTarget: string | null;
  /** The tenant a call acted on, when it is not the caller's own (operator routes). */
  auditTenantId: string | null;
  /** The problem code of an error response, for the access log. */
  problemCode: string | null;
}

/**
 * The parts of Express's request the api uses. Declared here because the workspace has no
 * `@types/express`; Express sets these fields on Node's IncomingMessage at runtime.
 */
export interface HttpRequest extends IncomingMessage {
  originalUrl: string;
  /** The matched route, set by Express's router before guards run. */
  route?: { path: string };
  params?: Record<string, string>;
  body?: unknown;
  gureum?: RequestContext;
}

export type HttpResponse = ServerResponse;

export const REQUEST_ID_HEADER = 'X-Request-Id';
const SANE_REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** A client's request id is kept if it is harmless to log and echo; otherwise we make one. */
export function acceptOrCreateRequestId(header: string | string[] | undefined): string {
  return typeof header === 'string' && SANE_REQUEST_ID.test(header) ? header : randomUUID();
}

/** The context of a request, created on first use so even errors before the first middleware have one. */
export function contextOf(request: HttpRequest): RequestContext {
  request.gureum ??= {
    requestId: acceptOrCreateRequestId(request.headers['x-request-id']),
    startedAt: process.hrtime.bigint(),
    principal: null,
    sessionId: null,
    auditTarget: null,
    auditTenantId: null,
    problemCode: null,
  };
  return request.gureum;
}

/** The path without the query string: query values (cursors) are not worth logging or echoing. */
export function pathOf(request: HttpRequest): string {
  const url = request.originalUrl ?? request.url ?? '/';
  const queryAt = url.indexOf('?');
  return queryAt === -1 ? url : url.slice(0, queryAt);
}
