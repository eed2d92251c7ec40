import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';

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
  });
}

/** Options for `@nestjs/microservices` `Transport.NATS` from the same settings. */
export function nestNatsOptions(settings: NatsSettings, queue: string): Record<string, unknown> {
  return {
    servers: settings.url,
    name: settings.name,
    queue,
    ...(settings.user ? { user: settings.user, pass: settings.password ?? '' } : {}),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    gracefulShutdown: true,
    gracePeriod: 2000,
  };
}
