import { Commands, ErrorCode, GureumError } from '@gureum/contracts';
import type { Bus } from '@gureum/messaging';
import type { Logger } from '@gureum/runtime';
import { OciError } from '../distribution/oci-error';
import type { TokenClaims } from './token';

/** Asks the api whether the credential behind a principal is still good. */
export type PrincipalActive = (principal: { principalId: string; kind: 'api_key' | 'user' }) => Promise<boolean>;

export function principalActiveVia(bus: Bus): PrincipalActive {
  return async (principal) => (await bus.request(Commands.identityPrincipalStatus.subject, principal)).active;
}

/** How long an answer is trusted: a revoked key's tokens stop working within this. */
export const PRINCIPAL_CHECK_TTL_MS = 5_000;
/** While the api does not answer, a principal seen active this recently still passes. */
const STALE_GRACE_MS = 60_000;
const MAX_ENTRIES = 10_000;

/**
 * Revocation for tokens already issued (issue 20, item 8): a token is a signed statement of
 * what its principal could do when it was minted, valid for minutes. On use, the credential
 * it came from (API key or user, see the `kind` claim) is checked with the api — revoked or
 * expired key, removed user, suspended or deleted tenant → the token is refused (401, so a
 * client goes back to the token endpoint, where its credentials fail too). Answers are cached
 * per principal for a few seconds, so a push's dozen requests cost one question; while the api
 * is unreachable a recent positive answer is kept for a minute, after that requests get 503.
 * Tokens without a credential behind them (anonymous, the scheduler's service tokens) skip it.
 */
export class PrincipalCheck {
  private readonly answers = new Map<string, { active: boolean; at: number }>();

  constructor(
    private readonly ask: PrincipalActive,
    private readonly logger?: Logger,
    private readonly ttlMs = PRINCIPAL_CHECK_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  async isActive(claims: TokenClaims): Promise<boolean> {
    const kind = claims.kind;
    if (kind === null) return true;
    const key = `${kind}:${claims.sub}`;
    const cached = this.answers.get(key);
    const now = this.now();
    if (cached && now - cached.at < this.ttlMs) return cached.active;
    let active: boolean;
    try {
      active = await this.ask({ principalId: claims.sub, kind });
    } catch (error) {
      if (error instanceof GureumError && (error.code === ErrorCode.Unavailable || error.code === ErrorCode.Timeout)) {
        if (cached?.active && now - cached.at < STALE_GRACE_MS) return true;
        this.logger?.warn({ err: error }, 'identity service unavailable; cannot check a token');
        throw new OciError('UNAUTHORIZED', 'authentication is temporarily unavailable', null, 503, { 'Retry-After': '5' });
      }
      throw error;
    }
    if (this.answers.size >= MAX_ENTRIES) this.answers.delete(this.answers.keys().next().value as string);
    this.answers.delete(key);
    this.answers.set(key, { active, at: now });
    return active;
  }
}
