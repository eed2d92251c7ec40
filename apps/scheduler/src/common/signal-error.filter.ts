import { Catch, Inject, Injectable, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { NatsContext } from '@nestjs/microservices';
import { ErrorCode, GureumError } from '@gureum/contracts';
import type { Logger } from '@gureum/runtime';
import { EMPTY, type Observable } from 'rxjs';
import { LOGGER } from './tokens';

/**
 * For signal (event) handlers. A signal has nobody to reply to, and `RpcErrorFilter` only
 * logs internal errors — so without this, a rejected heartbeat (bad payload, node id not
 * matching its subject) would vanish without a trace. Logged once, here.
 */
@Catch()
@Injectable()
export class SignalErrorFilter implements ExceptionFilter {
  constructor(@Inject(LOGGER) private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): Observable<never> {
    const subject = host.getType() === 'rpc' ? host.switchToRpc().getContext<NatsContext>()?.getSubject?.() : undefined;
    if (exception instanceof GureumError && exception.code !== ErrorCode.Internal) {
      this.logger.warn({ subject, code: exception.code, details: exception.details }, `rejected signal: ${exception.message}`);
    } else {
      this.logger.error({ err: exception, subject }, 'signal handler failed');
    }
    return EMPTY;
  }
}
