/**
 * In-memory limits, per api process. With N replicas a client gets up to N times the budget;
 * that is accepted (docs/tenancy.md) because the limits exist to stop floods and guessing,
 * and a shared store would put the database on every request's path.
 */

/** Token bucket per key: `capacity` requests at once, refilled at `perSecond`. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly capacity: number,
    private readonly perSecond: number,
    private readonly now: () => number = Date.now,
    private readonly maxKeys = 100_000,
  ) {}

  /** 0 when the request may proceed, otherwise how many ms until it could. */
  take(key: string): number {
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.capacity, at: now };
    bucket.tokens = Math.min(this.capacity, bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond);
    bucket.at = now;
    if (bucket.tokens < 1) {
      this.buckets.set(key, bucket);
      return Math.ceil(((1 - bucket.tokens) / this.perSecond) * 1000);
    }
    bucket.tokens -= 1;
    if (!this.buckets.has(key) && this.buckets.size >= this.maxKeys) this.evictFull(now);
    this.buckets.set(key, bucket);
    return 0;
  }

  /** Like `take`, but spends nothing: 0 when a token is available now, otherwise ms until one is. */
  peek(key: string): number {
    const bucket = this.buckets.get(key);
    if (!bucket) return 0;
    const tokens = Math.min(this.capacity, bucket.tokens + ((this.now() - bucket.at) / 1000) * this.perSecond);
    return tokens >= 1 ? 0 : Math.ceil(((1 - tokens) / this.perSecond) * 1000);
  }

  private evictFull(now: number): void {
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond >= this.capacity) this.buckets.delete(key);
    }
    if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value as string);
  }
}

/**
 * Failed bearer-credential checks (API keys, access tokens) per source address, across every
 * credential: a failed API-key check may cost a scrypt, so a source that keeps presenting bad
 * credentials gets 429 before any more are checked. Its own class so it can be injected.
 */
export class SourceFailureLimiter extends RateLimiter {}

export interface LoginBackoffOptions {
  /** Failures allowed before the backoff starts. */
  freeFailures?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  now?: () => number;
}

/**
 * Exponential backoff after repeated failed logins, per key (a login name, a source address):
 * from the `freeFailures`-th failure on, the next attempt must wait base·2^(n-free), capped.
 * A success clears the key.
 */
export class LoginBackoff {
  private readonly failures = new Map<string, { count: number; lockedUntil: number }>();
  private readonly freeFailures: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly now: () => number;

  constructor(options: LoginBackoffOptions = {}) {
    this.freeFailures = options.freeFailures ?? 5;
    this.baseDelayMs = options.baseDelayMs ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 15 * 60_000;
    this.now = options.now ?? Date.now;
  }

  /** 0 when an attempt may be made now, otherwise ms to wait. */
  retryAfterMs(keys: readonly string[]): number {
    const now = this.now();
    let wait = 0;
    for (const key of keys) wait = Math.max(wait, (this.failures.get(key)?.lockedUntil ?? 0) - now);
    return Math.max(0, wait);
  }

  recordFailure(keys: readonly string[]): void {
    const now = this.now();
    for (const key of keys) {
      const entry = this.failures.get(key) ?? { count: 0, lockedUntil: 0 };
      entry.count += 1;
      const over = entry.count - this.freeFailures;
      if (over >= 0) entry.lockedUntil = now + Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(over, 30));
      this.failures.set(key, entry);
    }
    if (this.failures.size > 100_000) this.prune(now);
  }

  recordSuccess(keys: readonly string[]): void {
    for (const key of keys) this.failures.delete(key);
  }

  private prune(now: number): void {
    for (const [key, entry] of this.failures) if (entry.lockedUntil + this.maxDelayMs < now) this.failures.delete(key);
  }
}

export interface LoginThrottleOptions {
  /** Backoff per (login, source address) pair: the only thing that refuses a login outright. */
  pair?: LoginBackoffOptions;
  /** Failed attempts per login (from anywhere) before its checks are slowed: burst, then per second. */
  loginFailureBurst?: number;
  loginFailuresPerSecond?: number;
  /** How long each check of an over-budget login is held before it is answered (never refused). */
  slowdownMs?: number;
  /** Failed attempts per source address (across every login) before it gets 429: burst, then per second. */
  sourceFailureBurst?: number;
  sourceFailuresPerSecond?: number;
  now?: () => number;
}

export type LoginThrottleDecision = { proceed: true; delayMs: number } | { proceed: false; retryAfterMs: number };

/**
 * Throttles password logins without handing an attacker a lockout of somebody else:
 *
 * - **per (login, source)**: exponential backoff after repeated failures. It refuses only
 *   that pair, so failures from one address never stop the same login from another address.
 * - **per login** (every source together): a failure budget; once spent, checks of that login
 *   are *slowed* (held `slowdownMs` before answering), never refused, so the right password
 *   from anywhere still gets in — the operator `admin` cannot be held locked.
 * - **per source** (every login together): a failure budget against password spraying;
 *   once spent, that source gets 429 with Retry-After. It is generous (an office behind one
 *   NAT does not reach it by mistyping) and counts failures only.
 *
 * A success clears its pair's backoff only.
 */
export class LoginThrottle {
  private readonly pairs: LoginBackoff;
  private readonly perLogin: RateLimiter;
  private readonly perSource: RateLimiter;
  private readonly slowdownMs: number;

  constructor(options: LoginThrottleOptions = {}) {
    const now = options.now ?? Date.now;
    this.pairs = new LoginBackoff({ ...options.pair, now });
    this.perLogin = new RateLimiter(options.loginFailureBurst ?? 20, options.loginFailuresPerSecond ?? 20 / 60, now);
    this.perSource = new RateLimiter(options.sourceFailureBurst ?? 50, options.sourceFailuresPerSecond ?? 1 / 6, now);
    this.slowdownMs = options.slowdownMs ?? 1000;
  }

  check(login: string, source: string): LoginThrottleDecision {
    const wait = Math.max(this.pairs.retryAfterMs([pairKey(login, source)]), this.perSource.peek(source));
    if (wait > 0) return { proceed: false, retryAfterMs: wait };
    return { proceed: true, delayMs: this.perLogin.peek(login) > 0 ? this.slowdownMs : 0 };
  }

  recordFailure(login: string, source: string): void {
    this.pairs.recordFailure([pairKey(login, source)]);
    this.perLogin.take(login);
    this.perSource.take(source);
  }

  recordSuccess(login: string, source: string): void {
    this.pairs.recordSuccess([pairKey(login, source)]);
  }
}

function pairKey(login: string, source: string): string {
  return `${login}\u0000${source}`;
}
