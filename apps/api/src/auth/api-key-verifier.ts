import { fingerprintApiKey, parseApiKey, verifySecret } from './api-key-secret';
import type { ApiKeyRole, Principal } from './principal';
import type { TenantStatus } from '../tenants/tenant.entity';

/** What verification needs from a stored key, read fresh on every request. */
export interface ApiKeyRecord {
  id: string;
  tenantId: string | null;
  tenantStatus: TenantStatus | null;
  role: ApiKeyRole;
  secretHash: string;
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

export interface ApiKeyStore {
  findByPrefix(prefix: string): Promise<ApiKeyRecord | null>;
  /** Records use; implementations should not move `last_used_at` back or write it more than once a minute. */
  markUsed(keyId: string, at: Date): Promise<void>;
}

export type ApiKeyRejection = 'malformed' | 'unknown' | 'wrong_secret' | 'expired' | 'revoked' | 'tenant_suspended';

/** A suspended tenant's key is genuine: the principal comes along so reads can still be allowed. */
export type ApiKeyVerification =
  | { ok: true; principal: Principal }
  | { ok: false; reason: Exclude<ApiKeyRejection, 'tenant_suspended'> }
  | { ok: false; reason: 'tenant_suspended'; principal: Principal };

export interface ApiKeyVerifierOptions {
  /** How long a successful scrypt check is trusted; revocation and expiry are still read every time. */
  cacheTtlMs?: number;
  maxCacheEntries?: number;
  lastUsedIntervalMs?: number;
  now?: () => number;
  /** The scrypt check; replaceable so tests can count how often the cache spares it. */
  verifySecret?: (secret: string, storedHash: string) => Promise<boolean>;
  /** Failures of the best-effort `last_used_at` write; a request never fails because of it. */
  onMarkUsedError?: (error: unknown, keyId: string) => void;
}

interface CachedVerification {
  keyId: string;
  /** A re-issued hash (key rotation) must not be satisfied by a cached proof of the old one. */
  secretHash: string;
  verifiedAt: number;
}

const MAX_CACHE_TTL_MS = 10_000;

export class ApiKeyVerifier {
  private readonly cache = new Map<string, CachedVerification>();
  private readonly lastMarked = new Map<string, number>();
  private readonly cacheTtlMs: number;
  private readonly maxCacheEntries: number;
  private readonly lastUsedIntervalMs: number;
  private readonly now: () => number;
  private readonly verifySecret: (secret: string, storedHash: string) => Promise<boolean>;

  constructor(
    private readonly store: ApiKeyStore,
    private readonly options: ApiKeyVerifierOptions = {},
  ) {
    this.cacheTtlMs = Math.min(options.cacheTtlMs ?? MAX_CACHE_TTL_MS, MAX_CACHE_TTL_MS);
    this.maxCacheEntries = options.maxCacheEntries ?? 10_000;
    this.lastUsedIntervalMs = options.lastUsedIntervalMs ?? 60_000;
    this.now = options.now ?? Date.now;
    this.verifySecret = options.verifySecret ?? verifySecret;
  }

  async verify(presented: string): Promise<ApiKeyVerification> {
    const parsed = parseApiKey(presented);
    if (!parsed) return { ok: false, reason: 'malformed' };

    const record = await this.store.findByPrefix(parsed.prefix);
    // No scrypt for a prefix that does not exist: the prefix is 12 random base-36 characters
    // (62 bits), so answering faster only tells a caller that an id it could not have guessed
    // is not one of ours. Failed checks are rate-limited per source (SourceFailureLimiter).
    if (!record) return { ok: false, reason: 'unknown' };

    const fingerprint = fingerprintApiKey(presented);
    if (!this.isCached(fingerprint, record)) {
      if (!(await this.verifySecret(parsed.secret, record.secretHash))) return { ok: false, reason: 'wrong_secret' };
      this.remember(fingerprint, record);
    }

    const now = this.now();
    if (record.revokedAt && record.revokedAt.getTime() <= now) return { ok: false, reason: 'revoked' };
    if (record.expiresAt && record.expiresAt.getTime() <= now) return { ok: false, reason: 'expired' };
    const principal: Principal = { principalId: record.id, kind: 'api_key', tenantId: record.tenantId, role: record.role };
    this.markUsed(record, now);
    if (record.tenantId !== null && record.tenantStatus !== 'active') return { ok: false, reason: 'tenant_suspended', principal };
    return { ok: true, principal };
  }

  private isCached(fingerprint: string, record: ApiKeyRecord): boolean {
    const entry = this.cache.get(fingerprint);
    if (!entry) return false;
    if (entry.keyId !== record.id || entry.secretHash !== record.secretHash || this.now() - entry.verifiedAt > this.cacheTtlMs) {
      this.cache.delete(fingerprint);
      return false;
    }
    return true;
  }

  private remember(fingerprint: string, record: ApiKeyRecord): void {
    if (this.cache.size >= this.maxCacheEntries) {
      // Maps iterate in insertion order, so the first entry is the oldest.
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    this.cache.set(fingerprint, { keyId: record.id, secretHash: record.secretHash, verifiedAt: this.now() });
  }

  private markUsed(record: ApiKeyRecord, now: number): void {
    const lastKnown = Math.max(record.lastUsedAt?.getTime() ?? 0, this.lastMarked.get(record.id) ?? 0);
    if (now - lastKnown < this.lastUsedIntervalMs) return;
    this.lastMarked.set(record.id, now);
    if (this.lastMarked.size > this.maxCacheEntries) this.pruneLastMarked(now);
    this.store.markUsed(record.id, new Date(now)).catch((error: unknown) => this.options.onMarkUsedError?.(error, record.id));
  }

  private pruneLastMarked(now: number): void {
    for (const [keyId, at] of this.lastMarked) if (now - at >= this.lastUsedIntervalMs) this.lastMarked.delete(keyId);
  }
}
