import { ConfigError } from '@gureum/runtime';
import { loadRegistryConfig } from './config';

const valid = {
  GUREUM_DATABASE_URL: 'postgres://u@127.0.0.1:5432/db',
  GUREUM_NATS_URL: 'nats://127.0.0.1:4222',
  GUREUM_NATS_USER: 'control',
  GUREUM_NATS_PASSWORD: 'pw',
  GUREUM_REGISTRY_STORAGE_DIR: '/var/lib/gureum/registry',
  GUREUM_REGISTRY_TOKEN_SECRET: 'x'.repeat(32),
};

describe('registry configuration', () => {
  it('defaults to 127.0.0.1:5000 and reads the quota default', () => {
    const config = loadRegistryConfig({ ...valid, GUREUM_REGISTRY_DEFAULT_QUOTA_BYTES: '1048576' });
    expect(config).toEqual(expect.objectContaining({ host: '127.0.0.1', port: 5000, defaultQuotaBytes: 1048576, storageDir: '/var/lib/gureum/registry' }));
  });

  it('lists every bad variable at once', () => {
    let error: unknown;
    try {
      loadRegistryConfig({ ...valid, GUREUM_REGISTRY_TOKEN_SECRET: 'short', GUREUM_REGISTRY_STORAGE_DIR: 'relative', GUREUM_REGISTRY_PORT: '70000', GUREUM_DATABASE_URL: undefined });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const name of ['GUREUM_REGISTRY_TOKEN_SECRET', 'GUREUM_REGISTRY_STORAGE_DIR', 'GUREUM_REGISTRY_PORT', 'GUREUM_DATABASE_URL']) expect(problems).toContain(name);
  });
});
