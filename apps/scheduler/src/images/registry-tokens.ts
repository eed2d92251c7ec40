import { Inject, Injectable } from '@nestjs/common';
import { Commands, ErrorCode, GureumError, type RegistryAuth } from '@gureum/contracts';
import { Bus } from '@gureum/messaging';
import type { Logger } from '@gureum/runtime';
import { LOGGER } from '../common/tokens';
import { registryImageOf } from './image-reference';

/** `host:port` of Gureum's registry as image references name it; null when none is configured. */
export const REGISTRY_ADDRESS = Symbol('scheduler.registryAddress');

interface Cached {
  auth: RegistryAuth;
  /** Reused until half its lifetime is gone, so an agent always gets minutes to pull. */
  renewAtMs: number;
}

/**
 * Short-lived, one-repository registry tokens for agents, asked of the registry on the
 * tenant's behalf. Agents never hold a credential that outlives a few minutes or reaches
 * beyond the one repository of the image they run.
 */
@Injectable()
export class RegistryTokens {
  private readonly cache = new Map<string, Cached>();

  constructor(
    private readonly bus: Bus,
    @Inject(REGISTRY_ADDRESS) private readonly address: string | null,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** The repository of `image` when it lives in our registry, else null. */
  repositoryOf(image: string): string | null {
    const parsed = registryImageOf(image);
    return parsed && this.address !== null && parsed.registry === this.address ? parsed.repository : null;
  }

  /**
   * Pull credentials for `image` of `tenantId`: null for an image outside our registry;
   * `forbidden` when the tenant may not pull it (another tenant's private repository).
   */
  async pullAuth(tenantId: string, image: string): Promise<RegistryAuth | null> {
    const repository = this.repositoryOf(image);
    if (repository === null) return null;
    return this.token('pull', tenantId, repository);
  }

  /** Push (and pull) credentials for a repository in the tenant's own namespace. */
  async pushAuth(tenantId: string, repository: string): Promise<RegistryAuth> {
    return this.token('push', tenantId, repository);
  }

  /** The registry address, or `unavailable` when the scheduler was started without one. */
  requireAddress(): string {
    if (this.address === null) throw new GureumError(ErrorCode.Unavailable, 'no registry is configured (GUREUM_REGISTRY_ADDRESS)');
    return this.address;
  }

  private async token(mode: 'pull' | 'push', tenantId: string, repository: string): Promise<RegistryAuth> {
    const registry = this.requireAddress();
    const key = `${mode}\0${tenantId}\0${repository}`;
    const cached = this.cache.get(key);
    if (cached && cached.renewAtMs > Date.now()) return cached.auth;
    const subject = mode === 'pull' ? Commands.registryTokenPull.subject : Commands.registryTokenPush.subject;
    const reply = await this.bus.request(subject, { tenantId, repository }).catch((error: unknown) => {
      if (error instanceof GureumError && error.code === ErrorCode.Forbidden) {
        throw new GureumError(ErrorCode.Forbidden, `no registry token: ${error.message}`, { repository, mode });
      }
      throw error;
    });
    const auth = { registry, token: reply.token };
    const now = Date.now();
    this.cache.set(key, { auth, renewAtMs: now + (Date.parse(reply.expiresAt) - now) / 2 });
    if (this.cache.size > 10_000) this.cache.clear();
    this.logger.debug({ tenantId, repository, mode }, 'registry token obtained');
    return auth;
  }
}
