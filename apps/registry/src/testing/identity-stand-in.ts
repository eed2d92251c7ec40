import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { Commands, type Principal } from '@gureum/contracts';

/**
 * Answers the api's identity commands the way the api does (Nest's reply envelope
 * `{id, response}` / `{id, err}`), from a fixed table of API keys and passwords:
 * `identity.cmd.credentials.verify.v1`, `identity.cmd.principal.status.v1` and
 * `identity.cmd.tenant.name.v1` (tenants are those of the principals added, until deleted).
 * Lets the registry be tested without the api. Holds no test-harness dependency, so it may
 * live in src.
 */
export class IdentityStandIn {
  readonly principals = new Map<string, Principal>();
  readonly requests: unknown[] = [];
  private readonly tenants = new Map<string, string>();
  private readonly inactive = new Set<string>();
  private readonly throttled = new Map<string, number>();
  private subscriptions: Subscription[] = [];

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: { tenantNames?: boolean } = {},
  ) {}

  /** `secret` is an API key, or `<login>:<password>`. */
  add(secret: string, principal: Principal): void {
    this.principals.set(secret, principal);
    if (principal.tenantId !== null && principal.tenantName !== null) this.tenants.set(principal.tenantId, principal.tenantName);
  }

  /** The credential is revoked: verification fails and its principal is no longer active. */
  revoke(secret: string): void {
    const principal = this.principals.get(secret);
    if (principal) this.inactive.add(principal.principalId);
    this.principals.delete(secret);
  }

  /** The tenant is deleted: its credentials fail, its principals are inactive, its id is unknown. */
  deleteTenant(tenantId: string): void {
    for (const [secret, principal] of this.principals) if (principal.tenantId === tenantId) this.revoke(secret);
    this.tenants.delete(tenantId);
  }

  /** Verification of `secret` answers `rate_limited` (retry after `seconds`) until cleared with 0. */
  throttle(secret: string, seconds: number): void {
    if (seconds > 0) this.throttled.set(secret, seconds);
    else this.throttled.delete(secret);
  }

  async start(): Promise<void> {
    this.serve(Commands.identityVerifyCredentials.subject, (data: { credential: { kind: string; apiKey?: string; login?: string; password?: string } }) => {
      this.requests.push(data);
      const credential = data.credential;
      const key = credential.kind === 'apiKey' ? credential.apiKey : `${credential.login}:${credential.password}`;
      const wait = key === undefined ? undefined : this.throttled.get(key);
      if (wait !== undefined) return { err: { code: 'rate_limited', message: 'too many credential checks', details: { retryAfterSeconds: wait } } };
      const principal = key === undefined ? undefined : this.principals.get(key);
      return principal ? { response: principal } : { err: { code: 'unauthenticated', message: 'invalid credentials' } };
    });
    this.serve(Commands.identityPrincipalStatus.subject, (data: { principalId: string }) => ({ response: { active: !this.inactive.has(data.principalId) } }));
    if (this.options.tenantNames !== false) {
      this.serve(Commands.identityTenantName.subject, (data: { tenantId: string }) => {
        const tenantName = this.tenants.get(data.tenantId);
        return tenantName !== undefined ? { response: { tenantId: data.tenantId, tenantName } } : { err: { code: 'not_found', message: `tenant ${data.tenantId} not found` } };
      });
    }
    await this.nc.flush();
  }

  async stop(): Promise<void> {
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    await this.nc.flush();
  }

  private serve<D>(subject: string, answer: (data: D) => { response: unknown } | { err: unknown }): void {
    this.subscriptions.push(
      this.nc.subscribe(subject, {
        queue: 'api',
        callback: (_error, msg: Msg) => {
          const envelope = msg.json<{ id: string; data: D }>();
          msg.respond(JSON.stringify({ id: envelope.id, ...answer(envelope.data), isDisposed: true }));
        },
      }),
    );
  }
}
