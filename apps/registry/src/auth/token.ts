import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

/**
 * The registry's bearer tokens: compact JWS, HS256 over the claims of the Docker token
 * spec (`access: [{type, name, actions}]`). Issuer and verifier are this service, so a
 * shared secret (no key distribution) is enough.
 */

export const TokenAccessSchema = z.object({
  type: z.string(),
  name: z.string(),
  actions: z.array(z.string()),
});
export type TokenAccess = z.infer<typeof TokenAccessSchema>;

const ClaimsSchema = z.object({
  iss: z.string(),
  sub: z.string(),
  aud: z.string(),
  exp: z.number(),
  nbf: z.number(),
  iat: z.number(),
  jti: z.string(),
  access: z.array(TokenAccessSchema),
  /** The principal's tenant (null for operators), for logs. */
  tenant: z.string().nullable(),
  /** The principal's tenant id (null for operators and anonymous tokens): recorded per namespace on push, for metering. */
  tenantId: z.uuid().nullable().default(null),
  /** What `sub` is when a credential stands behind the token (checked on use for revocation); null: anonymous or a service token. */
  kind: z.enum(['api_key', 'user']).nullable().default(null),
});
export type TokenClaims = z.output<typeof ClaimsSchema>;

const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
export const TOKEN_ISSUER = 'gureum-registry';

export interface TokenSigner {
  sign(claims: Omit<TokenClaims, 'iss' | 'exp' | 'nbf' | 'iat' | 'jti' | 'tenantId' | 'kind'> & { tenantId?: string | null; kind?: 'api_key' | 'user' | null }, nowSeconds: number): { token: string; expiresIn: number };
  /** The claims of a valid, unexpired token for `audience`; null otherwise. */
  verify(token: string, audience: string, nowSeconds: number): TokenClaims | null;
}

/** How many verified tokens `verify` remembers (a client reuses one token for every request of a push or pull). */
export const VERIFIED_TOKEN_CACHE_SIZE = 1024;

export function createTokenSigner(secret: string, ttlSeconds: number): TokenSigner {
  const key = Buffer.from(secret, 'utf8');
  const mac = (input: string) => createHmac('sha256', key).update(input).digest();
  /**
   * Claims of tokens whose signature and shape were verified, by token string: a hit skips
   * the HMAC and the claims' parse, never the checks of issuer, audience and validity period,
   * which run on every request. Only a verified token enters; the oldest leaves when full.
   */
  const verified = new Map<string, TokenClaims>();
  const remember = (token: string, claims: TokenClaims) => {
    if (verified.size >= VERIFIED_TOKEN_CACHE_SIZE) verified.delete(verified.keys().next().value as string);
    verified.set(token, Object.freeze(claims));
  };
  const valid = (claims: TokenClaims, audience: string, nowSeconds: number): TokenClaims | null => {
    if (claims.iss !== TOKEN_ISSUER || claims.aud !== audience) return null;
    if (nowSeconds >= claims.exp || nowSeconds < claims.nbf) return null;
    return claims;
  };
  return {
    sign(claims, nowSeconds) {
      const full: TokenClaims = { ...claims, tenantId: claims.tenantId ?? null, kind: claims.kind ?? null, iss: TOKEN_ISSUER, iat: nowSeconds, nbf: nowSeconds - 5, exp: nowSeconds + ttlSeconds, jti: randomUUID() };
      const payload = Buffer.from(JSON.stringify(full)).toString('base64url');
      return { token: `${HEADER}.${payload}.${mac(`${HEADER}.${payload}`).toString('base64url')}`, expiresIn: ttlSeconds };
    },
    verify(token, audience, nowSeconds) {
      const known = verified.get(token);
      if (known) {
        if (nowSeconds >= known.exp) verified.delete(token);
        return valid(known, audience, nowSeconds);
      }
      const parts = token.split('.');
      if (parts.length !== 3) return null;
      const [header, payload, signature] = parts as [string, string, string];
      if (header !== HEADER) return null;
      const expected = mac(`${header}.${payload}`);
      const given = Buffer.from(signature, 'base64url');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
      let claims: TokenClaims;
      try {
        const parsed = ClaimsSchema.safeParse(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')));
        if (!parsed.success) return null;
        claims = parsed.data;
      } catch {
        return null;
      }
      if (nowSeconds < claims.exp) remember(token, claims);
      return valid(claims, audience, nowSeconds);
    },
  };
}
