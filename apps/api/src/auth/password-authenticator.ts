import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { hashSecret, verifySecret } from './api-key-secret';
import type { Principal } from './principal';
import { LoginBackoff, RateLimiter } from './rate-limiter';
import { Tenant } from '../tenants/tenant.entity';
import { User } from '../users/user.entity';

export type PasswordAuthentication =
  | { ok: true; principal: Principal; tenantName: string | null; tenantActive: boolean }
  | { ok: false; reason: 'invalid' }
  | { ok: false; reason: 'throttled'; retryAfterMs: number };

/** Logins are compared case-insensitively: they are stored lower-cased. */
export function normaliseLogin(login: string): string {
  return login.trim().toLowerCase();
}

/**
 * Checks a login and password, with a rate limit per login and an exponential backoff per
 * login and per source address after repeated failures. The same instance serves HTTP logins
 * and `identity.cmd.credentials.verify.v1`, so both doors share one budget.
 */
export class PasswordAuthenticator {
  private decoyHash: Promise<string> | null = null;

  constructor(
    private readonly dataSource: DataSource,
    private readonly backoff = new LoginBackoff(),
    private readonly perLogin = new RateLimiter(10, 10 / 60),
  ) {}

  async authenticate(loginInput: string, password: string, sourceAddress?: string): Promise<PasswordAuthentication> {
    const login = normaliseLogin(loginInput);
    const keys = [`login:${login}`, ...(sourceAddress ? [`addr:${sourceAddress}`] : [])];
    const wait = Math.max(this.backoff.retryAfterMs(keys), this.perLogin.take(`login:${login}`));
    if (wait > 0) return { ok: false, reason: 'throttled', retryAfterMs: wait };

    const user = await this.dataSource.getRepository(User).findOneBy({ login });
    const matches = user ? await verifySecret(password, user.passwordHash) : await verifySecret(password, await this.decoy());
    if (!user || !matches) {
      this.backoff.recordFailure(keys);
      return { ok: false, reason: 'invalid' };
    }
    this.backoff.recordSuccess(keys);
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

  private decoy(): Promise<string> {
    this.decoyHash ??= hashSecret(randomBytes(32).toString('base64url'));
    return this.decoyHash;
  }
}
