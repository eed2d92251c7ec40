import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { IsNull, type DataSource } from 'typeorm';
import type { Principal } from '../auth/principal';
import { Tenant } from '../tenants/tenant.entity';
import { User } from '../users/user.entity';
import { Session } from './session.entity';

export const ACCESS_TOKEN_PREFIX = 'gat_';
export const REFRESH_TOKEN_PREFIX = 'grt_';
const TOKEN = /^(gat|grt)_[A-Za-z0-9_-]{43}$/;

export interface SessionTokens {
  accessToken: string;
  refreshToken: string;
  /** Seconds until the access token expires. */
  expiresIn: number;
  tokenType: 'Bearer';
}

export interface SessionSettings {
  accessTtlMs: number;
  refreshTtlMs: number;
  now?: () => number;
}

export type SessionAuthentication = { ok: true; principal: Principal; sessionId: string; tenantActive: boolean } | { ok: false };

/** Tokens are 32 random bytes: a fast digest is enough, and it lets us look them up by value. */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

export function isAccessToken(presented: string): boolean {
  return presented.startsWith(ACCESS_TOKEN_PREFIX);
}

/**
 * Console and CLI sessions: a short-lived access token and a longer-lived refresh token.
 * Refreshing rotates both; logout (or removing the user) revokes the session at once, since
 * every request reads it.
 */
export class SessionService {
  private readonly now: () => number;

  constructor(
    private readonly dataSource: DataSource,
    private readonly settings: SessionSettings = { accessTtlMs: 15 * 60_000, refreshTtlMs: 30 * 24 * 3600_000 },
  ) {
    this.now = settings.now ?? Date.now;
  }

  async open(userId: string): Promise<SessionTokens> {
    const tokens = this.newTokens();
    const now = this.now();
    await this.dataSource.getRepository(Session).insert({
      id: randomUUID(),
      userId,
      accessDigest: tokenDigest(tokens.accessToken),
      refreshDigest: tokenDigest(tokens.refreshToken),
      accessExpiresAt: new Date(now + this.settings.accessTtlMs),
      refreshExpiresAt: new Date(now + this.settings.refreshTtlMs),
      createdAt: new Date(now),
      revokedAt: null,
    });
    return tokens;
  }

  async authenticate(accessToken: string): Promise<SessionAuthentication> {
    if (!TOKEN.test(accessToken) || !isAccessToken(accessToken)) return { ok: false };
    const session = await this.dataSource.getRepository(Session).findOneBy({ accessDigest: tokenDigest(accessToken), revokedAt: IsNull() });
    if (!session || session.accessExpiresAt.getTime() <= this.now()) return { ok: false };
    const user = await this.dataSource.getRepository(User).findOneBy({ id: session.userId });
    if (!user) return { ok: false };
    const tenant = user.tenantId ? await this.dataSource.getRepository(Tenant).findOneBy({ id: user.tenantId }) : null;
    return {
      ok: true,
      sessionId: session.id,
      principal: { principalId: user.id, kind: 'user', tenantId: user.tenantId, role: user.role },
      tenantActive: tenant === null ? user.tenantId === null : tenant.status === 'active',
    };
  }

  /**
   * Rotates both tokens; a refresh token works once. Null when it is unknown, used, expired or
   * revoked. Presenting a refresh token this session already rotated away from is reuse: the
   * whole session (the token family) is revoked, so its current access and refresh tokens stop
   * working too — whoever holds them, the thief or the client (OAuth 2.0 Security BCP 4.14).
   */
  async refresh(refreshToken: string): Promise<SessionTokens | null> {
    if (!TOKEN.test(refreshToken) || refreshToken.startsWith(ACCESS_TOKEN_PREFIX)) return null;
    const tokens = this.newTokens();
    const now = new Date(this.now());
    const digest = tokenDigest(refreshToken);
    return this.dataSource.transaction(async (manager) => {
      const rotated = (await manager.query(
        `UPDATE "api"."sessions" SET access_digest = $1, refresh_digest = $2, access_expires_at = $3
          WHERE refresh_digest = $4 AND revoked_at IS NULL AND refresh_expires_at > $5
          RETURNING id`,
        [tokenDigest(tokens.accessToken), tokenDigest(tokens.refreshToken), new Date(now.getTime() + this.settings.accessTtlMs), digest, now],
      )) as unknown;
      const sessionId = returnedRows<{ id: string }>(rotated)[0]?.id;
      if (sessionId) {
        await manager.query(`INSERT INTO "api"."retired_refresh_tokens" (digest, session_id, retired_at) VALUES ($1, $2, $3)`, [digest, sessionId, now]);
        return tokens;
      }
      // Not current: a token this family already rotated away from means reuse.
      await manager.query(
        `UPDATE "api"."sessions" SET revoked_at = $1
          WHERE revoked_at IS NULL AND id = (SELECT session_id FROM "api"."retired_refresh_tokens" WHERE digest = $2)`,
        [now, digest],
      );
      return null;
    });
  }

  async revoke(sessionId: string): Promise<void> {
    await this.dataSource.getRepository(Session).update({ id: sessionId, revokedAt: IsNull() }, { revokedAt: new Date(this.now()) });
  }

  async revokeAllOf(userId: string): Promise<void> {
    await this.dataSource.getRepository(Session).update({ userId, revokedAt: IsNull() }, { revokedAt: new Date(this.now()) });
  }

  private newTokens(): SessionTokens {
    return {
      accessToken: `${ACCESS_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`,
      refreshToken: `${REFRESH_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`,
      expiresIn: Math.floor(this.settings.accessTtlMs / 1000),
      tokenType: 'Bearer',
    };
  }
}

/** TypeORM answers an UPDATE … RETURNING as `[rows, affected]` (a SELECT as plain rows). */
function returnedRows<T>(result: unknown): T[] {
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') return result[0] as T[];
  return Array.isArray(result) ? (result as T[]) : [];
}
