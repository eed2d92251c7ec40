import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { Commands, type Principal } from '@gureum/contracts';

/**
 * Answers `identity.cmd.credentials.verify.v1` the way the api does (Nest's reply envelope
 * `{id, response}` / `{id, err}`), from a fixed table of API keys and passwords. Lets the
 * registry be tested without the api. Holds no test-harness dependency, so it may live in src.
 */
export class IdentityStandIn {
  readonly principals = new Map<string, Principal>();
  readonly requests: unknown[] = [];
  private subscription: Subscription | null = null;

  constructor(private readonly nc: NatsConnection) {}

  /** `secret` is an API key, or `<login>:<password>`. */
  add(secret: string, principal: Principal): void {
    this.principals.set(secret, principal);
  }

  async start(): Promise<void> {
    this.subscription = this.nc.subscribe(Commands.identityVerifyCredentials.subject, {
      queue: 'api',
      callback: (_error, msg) => {
        const envelope = msg.json<{ id: string; data: { credential: { kind: string; apiKey?: string; login?: string; password?: string } } }>();
        this.requests.push(envelope.data);
        const credential = envelope.data.credential;
        const key = credential.kind === 'apiKey' ? credential.apiKey : `${credential.login}:${credential.password}`;
        const principal = key === undefined ? undefined : this.principals.get(key);
        msg.respond(
          JSON.stringify(
            principal
              ? { id: envelope.id, response: principal, isDisposed: true }
              : { id: envelope.id, err: { code: 'unauthenticated', message: 'invalid credentials' }, isDisposed: true },
          ),
        );
      },
    });
    await this.nc.flush();
  }

  async stop(): Promise<void> {
    this.subscription?.unsubscribe();
    await this.nc.flush();
  }
}
