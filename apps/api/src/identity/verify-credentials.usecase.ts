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
 * failure (unknown, wrong, expired, revoked, suspended tenant, throttled) is the same
 * `unauthenticated`, so the answer reveals nothing about which one it was.
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
      if (this.perApiKey.take(result.principal.principalId) > 0) return this.refuse(via, 'rate_limited');
      const tenantName = result.principal.tenantId ? await this.tenantName(result.principal.tenantId) : null;
      return { ...result.principal, tenantName };
    }
    const result = await this.passwords.authenticate(credential.login, credential.password, sourceAddress);
    if (!result.ok) return this.refuse(via, result.reason);
    if (!result.tenantActive) return this.refuse(via, 'tenant_suspended');
    return { ...result.principal, tenantName: result.tenantName };
  }

  private refuse(via: string, reason: string): never {
    this.logger.info({ via, reason }, 'credential verification refused');
    throw new GureumError(ErrorCode.Unauthenticated, 'the credentials are not valid');
  }

  private async tenantName(tenantId: string): Promise<string | null> {
    return (await this.dataSource.getRepository(Tenant).findOneBy({ id: tenantId }))?.name ?? null;
  }
}
