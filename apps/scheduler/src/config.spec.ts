import { ConfigError } from '@gureum/runtime';
import { loadSchedulerConfig } from './config';

describe('scheduler configuration', () => {
  const valid = {
    GUREUM_DATABASE_URL: 'postgres://scheduler@127.0.0.1:5432/gureum',
    GUREUM_NATS_URL: 'nats://127.0.0.1:4222',
    GUREUM_NATS_USER: 'control',
    GUREUM_NATS_PASSWORD: 'secret',
  };

  it('reads a valid environment and applies defaults', () => {
    expect(loadSchedulerConfig(valid)).toEqual({
      databaseUrl: valid.GUREUM_DATABASE_URL,
      nats: { url: valid.GUREUM_NATS_URL, user: 'control', password: 'secret' },
      logLevel: 'info',
      heartbeatIntervalMs: 2000,
      hostLostAfterMissed: 3,
      disconnectGraceMs: 60_000,
      migrationRecoveryAfterMs: 900_000,
      hostIndexRefreshMs: 500,
      createBatchGatherMs: 8,
      placement: {
        allocationRatios: { cpuMillis: 4, memoryMiB: 1, pids: 1 },
        reserved: { cpuMillis: 0, memoryMiB: 0, pids: 0 },
        policy: 'binpack',
        weights: { cpu: 1, memory: 1 },
        shard: null,
      },
      // No larger than one typical host (issue 20: the memory default was larger than any host; no pids quota at all).
      defaultQuotas: { cpuMillis: 32_000, memoryMiB: 32_768, pids: 32_768, workloads: 200, vms: 20 },
      registryAddress: null,
    });
    expect(loadSchedulerConfig({ ...valid, GUREUM_CPU_ALLOCATION_RATIO: '2.5', GUREUM_PLACEMENT_POLICY: 'spread', GUREUM_QUOTA_DEFAULT_VMS: '0', GUREUM_QUOTA_DEFAULT_PIDS: '4096' })).toMatchObject({
      placement: { allocationRatios: { cpuMillis: 2.5 }, policy: 'spread' },
      defaultQuotas: { vms: 0, pids: 4096 },
    });
    expect(loadSchedulerConfig({ ...valid, GUREUM_HEARTBEAT_INTERVAL_MS: '250', GUREUM_HOST_LOST_AFTER_MISSED: '5' })).toMatchObject({
      heartbeatIntervalMs: 250,
      hostLostAfterMissed: 5,
    });
    expect(loadSchedulerConfig({ ...valid, GUREUM_CREATE_BATCH_GATHER_MS: '0' }).createBatchGatherMs).toBe(0);
    for (const bad of ['-1', '2.5', '5000', 'soon']) expect(() => loadSchedulerConfig({ ...valid, GUREUM_CREATE_BATCH_GATHER_MS: bad })).toThrow(/GUREUM_CREATE_BATCH_GATHER_MS/);
    expect(loadSchedulerConfig({ ...valid, GUREUM_PLACEMENT_SHARD: '2/3' }).placement?.shard).toEqual({ index: 2, count: 3 });
    for (const bad of ['3/3', '0/0', '1', '-1/2', 'a/b', '1/2/3']) expect(() => loadSchedulerConfig({ ...valid, GUREUM_PLACEMENT_SHARD: bad })).toThrow(/GUREUM_PLACEMENT_SHARD/);
    expect(loadSchedulerConfig({ ...valid, GUREUM_MIGRATION_RECOVERY_AFTER_MS: '60000' }).migrationRecoveryAfterMs).toBe(60_000);
    expect(loadSchedulerConfig({ ...valid, GUREUM_REGISTRY_ADDRESS: '127.0.0.1:5000' }).registryAddress).toBe('127.0.0.1:5000');
    expect(() => loadSchedulerConfig({ ...valid, GUREUM_REGISTRY_ADDRESS: 'http://127.0.0.1:5000' })).toThrow(/GUREUM_REGISTRY_ADDRESS/);
  });

  it('lists every bad variable, not just the first', () => {
    let error: unknown;
    try {
      loadSchedulerConfig({
        GUREUM_DATABASE_URL: 'mysql://x',
        GUREUM_NATS_URL: 'not a url',
        GUREUM_LOG_LEVEL: 'loud',
        GUREUM_HEARTBEAT_INTERVAL_MS: '0',
        GUREUM_HOST_LOST_AFTER_MISSED: 'three',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.map((problem) => problem.split(':')[0]);
    expect(problems.sort()).toEqual(
      [
        'GUREUM_DATABASE_URL',
        'GUREUM_HEARTBEAT_INTERVAL_MS',
        'GUREUM_HOST_LOST_AFTER_MISSED',
        'GUREUM_LOG_LEVEL',
        'GUREUM_NATS_PASSWORD',
        'GUREUM_NATS_URL',
        'GUREUM_NATS_USER',
      ].sort(),
    );
  });
});
