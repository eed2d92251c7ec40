import type { Logger } from 'pino';
import { contextOf, pathOf, REQUEST_ID_HEADER, type HttpRequest, type HttpResponse } from './http-context';

/**
 * First middleware of every request: fixes the request id (echoed on every response, errors
 * included) and writes one access-log line when the response is done. The Authorization
 * header is never part of that line.
 */
export function requestContextMiddleware(logger: Logger) {
  return (request: HttpRequest, response: HttpResponse, next: () => void): void => {
    const context = contextOf(request);
    response.setHeader(REQUEST_ID_HEADER, context.requestId);
    let logged = false;
    const logRequest = () => {
      if (logged) return;
      logged = true;
      const principal = context.principal;
      logger.info(
        {
          method: request.method,
          path: pathOf(request),
          // A response closed before it finished (client went away) never got a status on the wire.
          status: response.writableFinished ? response.statusCode : null,
          ms: Number((process.hrtime.bigint() - context.startedAt) / 1000n) / 1000,
          requestId: context.requestId,
          tenantId: principal?.tenantId ?? null,
          keyId: principal?.principalId ?? null,
          ...(context.problemCode ? { problem: context.problemCode } : {}),
        },
        'request',
      );
    };
    response.once('finish', logRequest);
    response.once('close', logRequest);
    next();
  };
}
