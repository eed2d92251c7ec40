import { UsageSampleSchema } from '@gureum/contracts';
import pino from 'pino';
import { DriverError, type TaskStats, type TaskStatus } from '../driver';
import { sampleIntervalFromEnv, UsageSampler } from './usage-sampler';

const task = (handleId: string, workloadId: string): TaskStatus => ({
  handleId,
  workloadId,
  tenantId: '7b0c7b3e-8f57-4c43-9a2d-3c1f2b7a9e10',
  generation: 1,
  state: 'running',
  exitCode: null,
  oomKilled: false,
  startedAt: '2026-11-27T10:00:00Z',
  finishedAt: null,
  pid: 1234,
});
const W1 = '0d6f4d7e-1b2a-4c3d-8e9f-0a1b2c3d4e5f';
const W2 = '1e7a5e8f-2c3b-4d4e-9f0a-1b2c3d4e5f60';

const stats = (cpuUsageNs: bigint): TaskStats => ({
  cpuUsageNs,
  memoryBytes: 1_048_576,
  memoryPeakBytes: 2_097_152,
  pids: 3,
  limits: { cpuQuotaUs: 50_000, cpuPeriodUs: 100_000, memoryBytes: 67_108_864, pidsMax: 64 },
});

describe('UsageSampler', () => {
  it('publishes one valid sample per running task with a deterministic dedupe id, skipping tasks that stopped', async () => {
    const published: Array<{ subject: string; payload: string; msgId: string }> = [];
    const driver = {
      stats: jest.fn(async (handleId: string) => {
        if (handleId === 'gone') throw new DriverError('task_not_running', 'exited');
        return stats(123_456_789_012_345_678n);
      }),
    };
    const sampler = new UsageSampler({ nodeId: 'node-a', intervalMs: 1000, now: () => new Date('2026-11-27T10:00:10.000Z') }, driver, (subject, payload, msgId) => published.push({ subject, payload, msgId }), pino({ level: 'silent' }));
    sampler.observe([task('h1', W1), task('gone', W2), { ...task('h3', W2), state: 'exited' }]);

    const samples = await sampler.sampleOnce();

    expect(driver.stats).toHaveBeenCalledTimes(2);
    expect(published).toHaveLength(1);
    const [message] = published;
    expect(message?.subject).toBe('agent.node-a.evt.usage.v1');
    const body = UsageSampleSchema.parse(JSON.parse(message?.payload ?? '{}'));
    expect(body).toEqual(samples[0]);
    expect(body.cpuUsageNs).toBe('123456789012345678');
    expect(body.sampleId).toBe(`${W1}/h1/${Date.parse('2026-11-27T10:00:10.000Z')}`);
    expect(message?.msgId).toBe(`node-a/${body.sampleId}`);
  });

  it('never reuses a sample id, even when the clock does not move', async () => {
    const ids: string[] = [];
    const sampler = new UsageSampler({ nodeId: 'node-a', intervalMs: 1000, now: () => new Date('2026-11-27T10:00:10.000Z') }, { stats: async () => stats(1n) }, (_s, _p, id) => ids.push(id), pino({ level: 'silent' }));
    sampler.observe([task('h1', W1), task('h2', W2)]);
    await sampler.sampleOnce();
    await sampler.sampleOnce();
    expect(new Set(ids).size).toBe(4);
  });

  it('adds network and block-I/O counters by the task’s pid, and leaves them out (null) when they cannot be read', async () => {
    const published: string[] = [];
    const io = {
      read: jest.fn(async (pid: number) => {
        if (pid !== 1234) throw Object.assign(new Error('gone'), { code: 'ENOENT' });
        return { networkRxBytes: 10_000_000_000_000_000_001n, networkTxBytes: 2n, blockReadBytes: null, blockWriteBytes: 4n };
      }),
    };
    const sampler = new UsageSampler({ nodeId: 'node-a', intervalMs: 1000, io }, { stats: async () => stats(1n) }, (_s, payload) => published.push(payload), pino({ level: 'silent' }));
    sampler.observe([task('h1', W1), { ...task('h2', W2), pid: 999 }, { ...task('h3', W2), pid: null }]);
    const samples = await sampler.sampleOnce();
    expect(samples.map((s) => [s.handleId, s.networkRxBytes, s.networkTxBytes, s.blockReadBytes, s.blockWriteBytes])).toEqual([
      ['h1', '10000000000000000001', '2', null, '4'],
      ['h2', null, null, null, null],
      ['h3', null, null, null, null],
    ]);
    expect(io.read).toHaveBeenCalledTimes(2);
    expect(published.map((p) => UsageSampleSchema.parse(JSON.parse(p)))).toEqual(samples);
  });

  it('reads its interval from GUREUM_AGENT_SAMPLE_MS, 10 s by default, and rejects a bad one', () => {
    expect(sampleIntervalFromEnv({})).toBe(10_000);
    expect(sampleIntervalFromEnv({ GUREUM_AGENT_SAMPLE_MS: '250' })).toBe(250);
    expect(() => sampleIntervalFromEnv({ GUREUM_AGENT_SAMPLE_MS: 'soon' })).toThrow();
  });
});
