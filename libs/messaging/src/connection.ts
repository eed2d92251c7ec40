import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import type { NatsOptions } from '@nestjs/microservices';

export type { NatsConnection } from '@nats-io/transport-node';

export interface NatsSettings {
  url: string;
  user?: string;
  password?: string;
  /** Connection name shown in the NATS monitor. */
  name: string;
  /**
   * Reply inbox prefix. Agents use `_INBOX.agent-<nodeId>` because their NATS permissions only
   * let them subscribe to their own inboxes, never to other agents' replies.
   */
  inboxPrefix?: string;
  /** An enrolled agent authenticates with its own NKey seed instead of a password. */
  nkeySeed?: string;
}

export async function connectNats(settings: NatsSettings): Promise<NatsConnection> {
  return connect({
    servers: settings.url,
    name: settings.name,
    ...(settings.user ? { user: settings.user, pass: settings.password ?? '' } : {}),
    ...(settings.nkeySeed ? { authenticator: nkeyAuthenticator(new TextEncoder().encode(settings.nkeySeed)) } : {}),
    ...(settings.inboxPrefix ? { inboxPrefix: settings.inboxPrefix } : {}),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    // An async stack trace costs an Error (and its captured stack) per request; at thousands of
    // requests a second that is a measurable share of a replica's CPU (scheduler bench profile).
    noAsyncTraces: true,
  });
}

/** Nest's NATS server options (`Transport.NATS`, or the constructor of `GureumNatsServer`). */
export type NestNatsOptions = Required<NatsOptions>['options'];

/** Options for `@nestjs/microservices` `Transport.NATS` from the same settings. */
export function nestNatsOptions(settings: NatsSettings, queue: string): NestNatsOptions {
  return {
    servers: settings.url,
    name: settings.name,
    queue,
    ...(settings.user ? { user: settings.user, pass: settings.password ?? '' } : {}),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    noAsyncTraces: true,
    gracefulShutdown: true,
    gracePeriod: 2000,
  };
}

/**
 * The first connection of a long-running daemon (an agent): a broker that is restarting or
 * reloading its authorization answers with a timeout or a refused connection for a moment, and a
 * daemon that exits on that would need a supervisor to come back. Those are retried until
 * `giveUpAfterMs`; a refused credential (Authorization Violation) is not, it will not get better.
 */
export async function connectNatsPatiently(
  settings: NatsSettings,
  options: { giveUpAfterMs?: number; onRetry?: (error: unknown, attempt: number) => void } = {},
): Promise<NatsConnection> {
  const deadline = Date.now() + (options.giveUpAfterMs ?? 60_000);
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await connectNats(settings);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (/authorization|authentication/i.test(message) || Date.now() >= deadline) throw error;
      options.onRetry?.(error, attempt);
      await new Promise((resolve) => setTimeout(resolve, Math.min(250 * attempt, 2000)));
    }
  }
}
