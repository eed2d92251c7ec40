import { Catch, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { ErrorCode } from '@gureum/contracts';
import type { Logger } from 'pino';
import { contextOf, pathOf, type HttpRequest, type HttpResponse } from './http-context';
import { toProblem } from './problem';

/** The only exception filter of the HTTP API: everything that goes wrong leaves as problem+json. */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  constructor(private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<HttpRequest>();
    const response = http.getResponse<HttpResponse>();
    const context = contextOf(request);
    const { problem, headers, isServerFault } = toProblem(exception, {
      method: request.method ?? 'GET',
      path: pathOf(request),
      requestId: context.requestId,
    });
    context.problemCode = problem.code;
    // Logged here and only here; the client gets the request id to correlate. A service that
    // is down or slow is an expected condition with a known cause, so no stack for it.
    if (isServerFault && problem.code === ErrorCode.Internal) {
      this.logger.error({ err: exception, requestId: context.requestId, code: problem.code }, 'request failed');
    } else if (isServerFault) {
      const reason = exception instanceof Error ? exception.message : String(exception);
      this.logger.warn({ requestId: context.requestId, code: problem.code, reason }, 'request failed: a dependency is unavailable');
    }

    if (response.headersSent) {
      response.destroy();
      return;
    }
    const body = JSON.stringify(problem);
    response.statusCode = problem.status;
    for (const [name, value] of Object.entries(headers)) response.setHeader(name, value);
    response.setHeader('Content-Length', Buffer.byteLength(body));
    response.end(body);
  }
}
