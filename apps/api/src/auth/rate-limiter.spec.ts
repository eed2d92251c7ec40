import { LoginBackoff, LoginThrottle, RateLimiter } from './rate-limiter';

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

describe('LoginThrottle', () => {
  const options = (clock: { now: number }) => ({
    pair: { freeFailures: 3, baseDelayMs: 1000, maxDelayMs: 60_000 },
    loginFailureBurst: 5,
    loginFailuresPerSecond: 0.001,
    slowdownMs: 700,
    sourceFailureBurst: 10,
    sourceFailuresPerSecond: 0.001,
    now: () => clock.now,
  });

  it("backs off the failing (login, source) pair only: the same login from elsewhere proceeds", () => {
    const clock = { now: 0 };
    const throttle = new LoginThrottle(options(clock));
    for (let i = 0; i < 3; i += 1) throttle.recordFailure('admin', '10.0.0.1');
    expect(throttle.check('admin', '10.0.0.1')).toEqual({ proceed: false, retryAfterMs: 1000 });
    expect(throttle.check('admin', '10.0.0.2')).toEqual({ proceed: true, delayMs: 0 });
    expect(throttle.check('someone-else', '10.0.0.1')).toEqual({ proceed: true, delayMs: 0 });
  });

  it('slows, never refuses, a login whose failure budget is spent from many sources', () => {
    const clock = { now: 0 };
    const throttle = new LoginThrottle(options(clock));
    for (let i = 0; i < 50; i += 1) throttle.recordFailure('admin', `10.1.0.${i}`);
    expect(throttle.check('admin', '192.0.2.7')).toEqual({ proceed: true, delayMs: 700 });
    expect(throttle.check('other', '192.0.2.7')).toEqual({ proceed: true, delayMs: 0 });
  });

  it('refuses a source that spent its failure budget across logins (spraying), with a wait', () => {
    const clock = { now: 0 };
    const throttle = new LoginThrottle(options(clock));
    for (let i = 0; i < 10; i += 1) throttle.recordFailure(`user-${i}`, '10.2.0.1');
    const decision = throttle.check('user-99', '10.2.0.1');
    expect(decision.proceed).toBe(false);
    expect(decision.proceed === false && decision.retryAfterMs).toBeGreaterThan(0);
    expect(throttle.check('user-99', '10.2.0.2')).toEqual({ proceed: true, delayMs: 0 });
  });

  it('a success clears only its own pair', () => {
    const clock = { now: 0 };
    const throttle = new LoginThrottle(options(clock));
    for (let i = 0; i < 3; i += 1) {
      throttle.recordFailure('alice', '10.3.0.1');
      throttle.recordFailure('alice', '10.3.0.2');
    }
    throttle.recordSuccess('alice', '10.3.0.1');
    expect(throttle.check('alice', '10.3.0.1').proceed).toBe(true);
    expect(throttle.check('alice', '10.3.0.2').proceed).toBe(false);
  });
});
