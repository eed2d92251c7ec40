import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  commandDef,
  concreteSubject,
  ErrorCode,
  GureumError,
  unavailableFrom,
  validationError,
  type CommandSubject,
  type ReplyOf,
  type ValidRequestOf,
} from '@gureum/contracts';
import { z } from 'zod';

const EnvelopeSchema = z.object({ id: z.string().optional(), data: z.unknown() });

/**
 * Serves a command outside Nest (agents are plain daemons), speaking the same envelope as
 * Nest's NATS transport so `Bus.request` works unchanged: `{ id, response }` or
 * `{ id, err: WireError }`. The payload is validated with the subject's schema; a handler's
 * GureumError travels as is, anything else as `internal` (and goes to `onError`).
 */
export function serveCommand<S extends CommandSubject>(
  nc: NatsConnection,
  subject: S,
  handler: (request: ValidRequestOf<S>) => Promise<ReplyOf<S>>,
  options: { nodeId?: string; onError?: (error: unknown) => void } = {},
): Subscription {
  const def = commandDef(subject);
  const listenOn = concreteSubject(def.subject, options.nodeId);
  return nc.subscribe(listenOn, {
    callback: (error, msg) => {
      if (error) {
        options.onError?.(error);
        return;
      }
      void (async () => {
        let id: string | undefined;
        try {
          const envelope = EnvelopeSchema.parse(msg.json());
          id = envelope.id;
          const parsed = (def.request as z.ZodType).safeParse(envelope.data);
          if (!parsed.success) throw validationError(parsed.error, `payload for ${def.subject}`);
          const response = await handler(parsed.data as ValidRequestOf<S>);
          msg.respond(JSON.stringify({ id, response, isDisposed: true }));
        } catch (failure) {
          const typed = failure instanceof GureumError ? failure : unavailableFrom(failure);
          const wire = typed ? typed.toWire() : new GureumError(ErrorCode.Internal, `${def.subject} failed`).toWire();
          if (!typed || typed.code === ErrorCode.Internal) options.onError?.(failure);
          msg.respond(JSON.stringify({ id, err: wire, isDisposed: true }));
        }
      })();
    },
  });
}
