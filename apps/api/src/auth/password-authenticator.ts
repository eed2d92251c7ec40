import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { hashSecret, verifySecret } from './api-key-secret';
import type { Principal } from './principal';
import { setTimeout as sleep } from 'node:timers/promises';
import { LoginThrottle } from './rate-limiter';
import { Tenant } from '../tenants/tenant.entity';
import { User } from '../users/user.entity';

export type PasswordAuthentication =
  | { ok: true; principal: Principal; tenantName: string | null; tenantActive: boolean }
  | { ok: false; reason: 'invalid' }
  | { ok: false; reason: 'throttled'; retryAfterMs: number };

/** Logins are compared case-insensitively: they are stored lower-cased (tenant names are lower-case too). */
export function normaliseLogin(login: string): string {
  return login.trim().toLowerCase();
}

/** The source of a check that came without an address (a NATS caller that did not say). */
const UNKNOWN_SOURCE = 'unknown';

/**
 * Checks a login and password through a LoginThrottle (backoff per login and source address,
 * a slowdown per login, a failure budget per source; see docs/tenancy.md). The same instance
 * serves HTTP logins and `identity.cmd.credentials.verify.v1`, so both doors share one budget.
 */
export class PasswordAuthenticator {
  private decoyHash: Promise<string> | null = null;

  constructor(
    private readonly dataSource: DataSource,
    private readonly throttle = new LoginThrottle(),
  ) {}

  async authenticate(loginInput: string, password: string, sourceAddress?: string): Promise<PasswordAuthentication> {
    const login = normaliseLogin(loginInput);
    const source = sourceAddress || UNKNOWN_SOURCE;
    const decision = this.throttle.check(login, source);
    if (!decision.proceed) return { ok: false, reason: 'throttled', retryAfterMs: decision.retryAfterMs };
    if (decision.delayMs > 0) await sleep(decision.delayMs);

    const user = await this.findUser(login);
    const matches = user ? await verifySecret(password, user.passwordHash) : await verifySecret(password, await this.decoy());
    if (!user || !matches) {
      this.throttle.recordFailure(login, source);
      return { ok: false, reason: 'invalid' };
    }
    this.throttle.recordSuccess(login, source);
    let tenantName: string | null = null;
    let tenantActive = true;
    if (user.tenantId) {
      const tenant = await this.dataSource.getRepository(Tenant).findOneBy({ id: user.tenantId });
      if (!tenant) return { ok: false, reason: 'invalid' };
      tenantName = tenant.name;
      tenantActive = tenant.status === 'active';
    }
    return { ok: true, principal: { principalId: user.id, kind: 'user', tenantId: user.tenantId, role: user.role }, tenantName, tenantActive };
  }

  /**
   * `<tenant name>/<login>`: that tenant's user of that login (tenant-scoped or global);
   * `<login>`: the global login (operators, owners created with their tenant). Invited users'
   * logins are unique only within their tenant, so they always name it.
   */
  private async findUser(login: string): Promise<User | null> {
    const slash = login.indexOf('/');
    if (slash < 0) return this.dataSource.getRepository(User).findOneBy({ login, loginScope: 'global' });
    const tenantName = login.slice(0, slash);
    const inTenant = login.slice(slash + 1);
    if (!tenantName || !inTenant) return null;
    return this.dataSource
      .getRepository(User)
      .createQueryBuilder('u')
      .innerJoin(Tenant, 't', 't.id = u.tenant_id')
      .where('t.name = :tenantName AND u.login = :login', { tenantName, login: inTenant })
      .getOne();
  }

  private decoy(): Promise<string> {
    this.decoyHash ??= hashSecret(randomBytes(32).toString('base64url'));
    return this.decoyHash;
  }
}
