import { ArgumentsHost, Catch, Injectable, type ExceptionFilter, type PipeTransform } from '@nestjs/common';
import { EventPattern, MessagePattern, NatsContext, Payload } from '@nestjs/microservices';
import {
  commandDef,
  ErrorCode,
  GureumError,
  nodeIdOfSubject,
  parseOrThrow,
  signalDef,
  unavailableFrom,
  type CommandSubject,
  type SignalSubject,
} from '@gureum/contracts';
import type { Logger } from 'pino';
import { Observable, throwError } from 'rxjs';
import type { z } from 'zod';

/** Validates an inbound payload against its contract; failures become a typed reply. */
export class ContractPipe implements PipeTransform {
  constructor(
    private readonly schema: z.ZodType,
    private readonly what: string,
  ) {}
  transform(value: unknown): unknown {
    return parseOrThrow(this.schema, value, this.what);
  }
}

/** `@OnCommand(subject)`: a request/reply handler for a contract subject. */
export function OnCommand(subject: CommandSubject): MethodDecorator {
  return MessagePattern(commandDef(subject).subject);
}

/** `@CommandPayload(subject)`: the validated request of that subject. */
export function CommandPayload(subject: CommandSubject): ParameterDecorator {
  const def = commandDef(subject);
  return Payload(new ContractPipe(def.request as z.ZodType, `payload for ${def.subject}`));
}

export function OnSignal(subject: SignalSubject): MethodDecorator {
  return EventPattern(signalDef(subject).subject) as MethodDecorator;
}

export function SignalPayload(subject: SignalSubject): ParameterDecorator {
  const def = signalDef(subject);
  return Payload(new ContractPipe(def.payload as z.ZodType, `payload for ${def.subject}`));
}

/**
 * The node id a node-scoped message came from, read from the concrete subject. NATS
 * permissions bind an agent to its own subjects, so this (not the payload) is trusted.
 */
export function nodeIdFromContext(subject: CommandSubject | SignalSubject, context: NatsContext): string {
  const nodeId = nodeIdOfSubject(subject, context.getSubject());
  if (!nodeId) throw new GureumError(ErrorCode.ValidationFailed, `subject ${context.getSubject()} does not match ${subject}`);
  return nodeId;
}

/**
 * Maps every exception of a NATS handler to a typed wire error, once. Unknown errors are
 * logged here (and only here) and reach the caller as `internal` without internals.
 */
@Catch()
@Injectable()
export class RpcErrorFilter implements ExceptionFilter {
  constructor(private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): Observable<never> {
    if (exception instanceof GureumError) {
      if (exception.code === ErrorCode.Internal) this.logger.error({ err: exception }, exception.message);
      return throwError(() => exception.toWire());
    }
    const subject = host.getType() === 'rpc' ? host.switchToRpc().getContext<NatsContext>()?.getSubject?.() : undefined;
    // The database (or another dependency) down is not a bug: the caller gets `unavailable`
    // and may retry; logged without a stack, once per failed request.
    const unavailable = unavailableFrom(exception);
    if (unavailable) {
      this.logger.warn({ subject, reason: exception instanceof Error ? exception.message : String(exception) }, 'dependency unavailable in message handler');
      return throwError(() => unavailable.toWire());
    }
    this.logger.error({ err: exception, subject }, 'unhandled error in message handler');
    return throwError(() => new GureumError(ErrorCode.Internal, 'internal error').toWire());
  }
}
