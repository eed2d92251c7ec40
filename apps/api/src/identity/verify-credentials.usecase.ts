import { ErrorCode, GureumError, type Principal as WirePrincipal, type ValidRequestOf } from '@gureum/contracts';
import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import { ApiKeyVerifier } from '../auth/api-key-verifier';
import { PasswordAuthenticator } from '../auth/password-authenticator';
import type { RateLimiter } from '../auth/rate-limiter';
import { Tenant } from '../tenants/tenant.entity';

export type VerifyCredentialsCommand = ValidRequestOf<'identity.cmd.credentials.verify.v1'>;

/**
 * Another service (the registry's token endpoint) asks who a credential belongs to. Every
 * failure (unknown, wrong, expired, revoked, suspended tenant) is the same `unauthenticated`,
 * so the answer reveals nothing about which one it was; throttling is `rate_limited`.
 */
export class VerifyCredentials {
  constructor(
    private readonly dataSource: DataSource,
    private readonly apiKeys: ApiKeyVerifier,
    private readonly passwords: PasswordAuthenticator,
    private readonly perApiKey: RateLimiter,
    private readonly logger: Logger,
  ) {}

  async execute(command: VerifyCredentialsCommand): Promise<WirePrincipal> {
    const { credential, via, sourceAddress } = command;
    if (credential.kind === 'apiKey') {
      const result = await this.apiKeys.verify(credential.apiKey);
      if (!result.ok) return this.refuse(via, result.reason);
      const wait = this.perApiKey.take(result.principal.principalId);
      if (wait > 0) return this.throttle(via, wait);
      const tenantName = result.principal.tenantId ? await this.tenantName(result.principal.tenantId) : null;
      return { ...result.principal, tenantName };
    }
    const result = await this.passwords.authenticate(credential.login, credential.password, sourceAddress);
    if (!result.ok && result.reason === 'throttled') return this.throttle(via, result.retryAfterMs);
    if (!result.ok) return this.refuse(via, result.reason);
    if (!result.tenantActive) return this.refuse(via, 'tenant_suspended');
    return { ...result.principal, tenantName: result.tenantName };
  }

  private refuse(via: string, reason: string): never {
    this.logger.info({ via, reason }, 'credential verification refused');
    throw new GureumError(ErrorCode.Unauthenticated, 'the credentials are not valid');
  }

  /**
   * Throttled: `rate_limited` with `retryAfterSeconds`, so the registry answers 429 with
   * Retry-After (as the HTTP login does) instead of "invalid credentials", which makes a client
   * that fetches a token per request give up. An API key is throttled only after its secret
   * was verified, so this tells a caller without the key nothing.
   */
  private throttle(via: string, waitMs: number): never {
    this.logger.info({ via, reason: 'rate_limited' }, 'credential verification throttled');
    throw new GureumError(ErrorCode.RateLimited, 'too many credential checks; wait before trying again', { retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) });
  }

  private async tenantName(tenantId: string): Promise<string | null> {
    return (await this.dataSource.getRepository(Tenant).findOneBy({ id: tenantId }))?.name ?? null;
  }
}
