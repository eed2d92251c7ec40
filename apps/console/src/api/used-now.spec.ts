import type { UsageReply } from '@gureum/contracts';
import { usedNow } from './used-now';

const T1 = '11111111-1111-4111-8111-111111111111';
const T2 = '22222222-2222-4222-8222-222222222222';
const row = (tenantId: string, meter: string, periodStart: string, quantity: string) => ({ tenantId, meter, periodStart, quantity, unit: 'x', workloadId: null });

describe('usedNow (overview: metered use)', () => {
  it("takes each tenant's latest hour: CPU seconds over the hour's elapsed seconds, memory peaks summed", () => {
    const usage: UsageReply = {
      from: '2026-01-01T10:00:00.000Z',
      to: '2026-01-01T12:00:00.000Z',
      groupBy: 'meter',
      granularity: 'hour',
      rows: [
        row(T1, 'cpu_seconds', '2026-01-01T10:00:00.000Z', '3600'), // older hour: ignored
        row(T1, 'cpu_seconds', '2026-01-01T11:00:00.000Z', '900'), // 900 s in the 1800 s elapsed = 0.5 core
        row(T2, 'cpu_seconds', '2026-01-01T10:00:00.000Z', '1800'), // T2's latest is a full past hour: 0.5 core
        row(T1, 'memory_peak_bytes', '2026-01-01T11:00:00.000Z', String(64 * 1024 * 1024)),
        row(T2, 'memory_peak_bytes', '2026-01-01T10:00:00.000Z', String(32 * 1024 * 1024)),
        row(T2, 'vcpu_seconds', '2026-01-01T11:00:00.000Z', '99999'), // allocation, not use
      ],
    };
    expect(usedNow(usage, Date.parse('2026-01-01T11:30:00.000Z'))).toEqual({ cpuMillis: 1000, memoryMiB: 96 });
  });

  it('is zero without rows', () => {
    expect(usedNow({ from: '2026-01-01T10:00:00.000Z', to: '2026-01-01T11:00:00.000Z', groupBy: 'meter', granularity: 'hour', rows: [] }, 0)).toEqual({ cpuMillis: 0, memoryMiB: 0 });
  });
});
