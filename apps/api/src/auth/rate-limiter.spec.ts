import { LoginBackoff, RateLimiter } from './rate-limiter';

describe('RateLimiter', () => {
  it('allows a burst, then refills at the sustained rate, per key', () => {
    let now = 0;
    const limiter = new RateLimiter(3, 1, () => now);
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([0, 0, 0]);
    expect(limiter.take('a')).toBe(1000);
    expect(limiter.take('b')).toBe(0);
    now = 500;
    expect(limiter.take('a')).toBe(500);
    now = 1000;
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(1000);
  });
});

describe('LoginBackoff', () => {
  it('lets the first failures pass, then doubles the wait per failure up to the cap; success clears', () => {
    let now = 0;
    const backoff = new LoginBackoff({ freeFailures: 2, baseDelayMs: 1000, maxDelayMs: 3000, now: () => now });
    const keys = ['login:alice'];
    backoff.recordFailure(keys);
    expect(backoff.retryAfterMs(keys)).toBe(0);
    backoff.recordFailure(keys);
    expect(backoff.retryAfterMs(keys)).toBe(1000);
    backoff.recordFailure(keys);
    expect(backoff.retryAfterMs(keys)).toBe(2000);
    backoff.recordFailure(keys);
    expect(backoff.retryAfterMs(keys)).toBe(3000);
    now = 3000;
    expect(backoff.retryAfterMs(keys)).toBe(0);
    backoff.recordSuccess(keys);
    backoff.recordFailure(keys);
    expect(backoff.retryAfterMs(keys)).toBe(0);
  });

  it('takes the longest wait of all keys (login and source address)', () => {
    const backoff = new LoginBackoff({ freeFailures: 1, baseDelayMs: 1000, now: () => 0 });
    backoff.recordFailure(['addr:10.0.0.1']);
    expect(backoff.retryAfterMs(['login:bob', 'addr:10.0.0.1'])).toBe(1000);
    expect(backoff.retryAfterMs(['login:bob', 'addr:10.0.0.2'])).toBe(0);
  });
});
