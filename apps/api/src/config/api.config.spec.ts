import { ConfigError } from '@gureum/runtime';
import { apiConfigFromEnv } from './api.config';

const GOOD = {
  GUREUM_DATABASE_URL: 'postgres://gureum@127.0.0.1:5432/gureum',
  GUREUM_NATS_URL: 'nats://127.0.0.1:4222',
  GUREUM_NATS_USER: 'control',
  GUREUM_NATS_PASSWORD: 'secret',
};

describe('apiConfigFromEnv', () => {
  it('applies the defaults: loopback, port 8080, info logs, rate limits', () => {
    expect(apiConfigFromEnv(GOOD)).toEqual({
      databaseUrl: GOOD.GUREUM_DATABASE_URL,
      nats: { url: GOOD.GUREUM_NATS_URL, user: 'control', password: 'secret' },
      host: '127.0.0.1',
      port: 8080,
      logLevel: 'info',
      rateLimits: { apiBurst: 100, apiPerSecond: 20, loginBurst: 20, loginPerMinute: 20, sourceFailureBurst: 50, sourceFailuresPerMinute: 10 },
      streamRecheckMs: 5000,
      billingAdmission: 'off',
    });
  });

  it('enforces the billing admission check only when asked to, and refuses other values', () => {
    expect(apiConfigFromEnv({ ...GOOD, GUREUM_API_BILLING_ADMISSION: 'enforce' }).billingAdmission).toBe('enforce');
    expect(() => apiConfigFromEnv({ ...GOOD, GUREUM_API_BILLING_ADMISSION: 'maybe' })).toThrow(ConfigError);
  });

  it('reads the rate limits and refuses nonsense ones', () => {
    expect(apiConfigFromEnv({ ...GOOD, GUREUM_API_RATE_BURST: '5', GUREUM_LOGIN_RATE_PER_MINUTE: '2' }).rateLimits).toMatchObject({ apiBurst: 5, loginPerMinute: 2 });
    expect(() => apiConfigFromEnv({ ...GOOD, GUREUM_API_RATE_BURST: '0' })).toThrow(ConfigError);
  });

  it('lists every bad variable at once', () => {
    let thrown: unknown;
    try {
      apiConfigFromEnv({ GUREUM_DATABASE_URL: 'mysql://x', GUREUM_NATS_URL: 'not a url', GUREUM_API_PORT: '70000', GUREUM_LOG_LEVEL: 'loud' });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    const variables = (thrown as ConfigError).problems.map((problem) => problem.split(':')[0]).sort();
    expect(variables).toEqual([
      'GUREUM_API_PORT',
      'GUREUM_DATABASE_URL',
      'GUREUM_LOG_LEVEL',
      'GUREUM_NATS_PASSWORD',
      'GUREUM_NATS_URL',
      'GUREUM_NATS_USER',
    ]);
  });

  it('never puts a variable value in its error', () => {
    expect(() => apiConfigFromEnv({ ...GOOD, GUREUM_NATS_URL: 'http://user:hunter2@example' })).toThrow(expect.objectContaining({ message: expect.not.stringContaining('hunter2') }));
  });
});
