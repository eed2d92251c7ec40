import { randomUUID } from 'node:crypto';
import { RequestError, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import {
  commandDef,
  concreteSubject,
  ErrorCode,
  GureumError,
  nodeIdOfSubject,
  parseOrThrow,
  signalDef,
  unavailableFrom,
  WireErrorSchema,
  type CommandSubject,
  type ReplyOf,
  type RequestOf,
  type SignalPayloadOf,
  type SignalSubject,
  type ValidRequestOf,
} from '@gureum/contracts';
import { z } from 'zod';

export interface RequestOptions {
  /** Required for node-scoped subjects (`agent.*.…`). */
  nodeId?: string;
  timeoutMs?: number;
}

/**
 * The reply envelope of `@nestjs/microservices`' NATS transport, which the services use to
 * answer commands: `{ id, response }` or `{ id, err }`.
 */
const NestReplySchema = z.object({
  id: z.string().optional(),
  response: z.unknown().optional(),
  err: z.unknown().optional(),
  isDisposed: z.boolean().optional(),
});

/**
 * Typed access to the bus. `request` and `signal` only accept the payload bound to their
 * subject in `@gureum/contracts`; replies are validated before they are returned, and a
 * remote failure comes back as a GureumError with the remote's code.
 */
export class Bus {
  constructor(
    private readonly nc: NatsConnection,
    private readonly defaultTimeoutMs = 5000,
  ) {}

  get connection(): NatsConnection {
    return this.nc;
  }

  async request<S extends CommandSubject>(subject: S, payload: RequestOf<S>, options: RequestOptions = {}): Promise<ReplyOf<S>> {
    const def = commandDef(subject);
    const concrete = concreteSubject(def.subject, options.nodeId);
    // Validate before sending: a bad payload is the caller's bug and should fail here, loudly.
    const data = parseOrThrow(def.request as z.ZodType, payload, `payload for ${def.subject}`);
    const envelope = JSON.stringify({ pattern: def.subject, data, id: randomUUID() });
    let raw: unknown;
    try {
      const msg = await this.nc.request(concrete, envelope, { timeout: options.timeoutMs ?? this.defaultTimeoutMs });
      raw = msg.json();
    } catch (error) {
      if (error instanceof RequestError && error.isNoResponders()) {
        throw new GureumError(ErrorCode.Unavailable, `no service is answering ${def.subject}`, undefined, { cause: error });
      }
      if (error instanceof Error && error.name === 'TimeoutError') {
        throw new GureumError(ErrorCode.Timeout, `no reply to ${def.subject} in time`, undefined, { cause: error });
      }
      throw new GureumError(ErrorCode.Unavailable, `request ${def.subject} failed: ${String(error)}`, undefined, { cause: error });
    }
    const reply = NestReplySchema.safeParse(raw);
    if (!reply.success) throw new GureumError(ErrorCode.Internal, `malformed reply envelope on ${def.subject}`);
    if (reply.data.err !== undefined && reply.data.err !== null) {
      const wire = WireErrorSchema.safeParse(reply.data.err);
      if (wire.success) throw GureumError.fromWire(wire.data);
      throw new GureumError(ErrorCode.Internal, `${def.subject} failed without a typed error`);
    }
    const parsed = (def.reply as z.ZodType).safeParse(reply.data.response);
    if (!parsed.success) throw new GureumError(ErrorCode.Internal, `reply to ${def.subject} does not match its contract`);
    return parsed.data as ReplyOf<S>;
  }

  /** Fire-and-forget; receivers must tolerate loss. */
  signal<S extends SignalSubject>(subject: S, payload: SignalPayloadOf<S>, options: { nodeId?: string } = {}): void {
    const def = signalDef(subject);
    const data = parseOrThrow(def.payload as z.ZodType, payload, `payload for ${def.subject}`);
    this.nc.publish(concreteSubject(def.subject, options.nodeId), JSON.stringify(data));
  }

  /**
   * Receives signals outside Nest (agents). Invalid messages are reported to `onInvalid` and
   * dropped; a signal is never allowed to crash the receiver.
   */
  onSignal<S extends SignalSubject>(
    subject: S,
    handler: (payload: z.output<ReturnType<typeof signalDef<S>>['payload']>, meta: { subject: string; nodeId: string | null }) => void | Promise<void>,
    options: { nodeId?: string; onInvalid?: (error: unknown, subject: string) => void } = {},
  ): Subscription {
    const def = signalDef(subject);
    const listenOn = options.nodeId ? concreteSubject(def.subject, options.nodeId) : def.subject;
    return this.nc.subscribe(listenOn, {
      callback: (error, msg) => {
        if (error) {
          options.onInvalid?.(error, listenOn);
          return;
        }
        try {
          const payload = (def.payload as z.ZodType).parse(msg.json());
          void Promise.resolve(handler(payload as never, { subject: msg.subject, nodeId: nodeIdOfSubject(def.subject, msg.subject) })).catch(
            (handlerError: unknown) => options.onInvalid?.(handlerError, msg.subject),
          );
        } catch (parseError) {
          options.onInvalid?.(parseError, msg.subject);
        }
      },
    });
  }

  /**
   * Serves a node-scoped command outside Nest (agents): validates the request, runs the
   * handler, and answers in the same envelope Nest services use, a GureumError as a typed
   * `err`, anything else as `internal`.
   */
  onCommand<S extends CommandSubject>(
    subject: S,
    handler: (request: ValidRequestOf<S>) => Promise<ReplyOf<S>>,
    options: { nodeId: string; onError?: (error: unknown, subject: string) => void },
  ): Subscription {
    const def = commandDef(subject);
    const listenOn = concreteSubject(def.subject, options.nodeId);
    return this.nc.subscribe(listenOn, {
      callback: (error, msg) => {
        if (error) {
          options.onError?.(error, listenOn);
          return;
        }
        void (async () => {
          let id: string | undefined;
          try {
            const envelope = z.object({ id: z.string().optional(), data: z.unknown() }).parse(msg.json());
            id = envelope.id;
            const request = parseOrThrow(def.request as z.ZodType, envelope.data, `payload for ${def.subject}`) as ValidRequestOf<S>;
            const response = await handler(request);
            msg.respond(JSON.stringify({ id, response, isDisposed: true }));
          } catch (handlerError) {
            const typed = handlerError instanceof GureumError ? handlerError : unavailableFrom(handlerError);
            if (!typed) options.onError?.(handlerError, msg.subject);
            const wire = typed
              ? typed.toWire()
              : { code: ErrorCode.Internal, message: handlerError instanceof Error ? handlerError.message : String(handlerError) };
            msg.respond(JSON.stringify({ id, err: wire, isDisposed: true }));
          }
        })();
      },
    });
  }
}
