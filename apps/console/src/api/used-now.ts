import type { UsageReply } from '@gureum/contracts';

/**
 * What the fleet uses now, from metering. The usage API rolls up per tenant and meter per hour
 * (no host dimension), so "used" is fleet-wide: for each tenant its latest hour with data —
 * CPU = cpu_seconds / the seconds of that hour elapsed so far (average cores), memory = its
 * memory_peak_bytes in that hour (the hour's highest, an upper bound) — summed over tenants.
 */
export function usedNow(usage: UsageReply, nowMs: number): { cpuMillis: number; memoryMiB: number } {
  const latest = new Map<string, { at: number; quantity: number }>();
  for (const row of usage.rows) {
    if (row.meter !== 'cpu_seconds' && row.meter !== 'memory_peak_bytes') continue;
    const key = `${row.tenantId}|${row.meter}`;
    const at = Date.parse(row.periodStart);
    const seen = latest.get(key);
    if (!seen || at > seen.at) latest.set(key, { at, quantity: Number(row.quantity) });
  }
  let cpuMillis = 0;
  let memoryMiB = 0;
  for (const [key, { at, quantity }] of latest) {
    if (key.endsWith('|cpu_seconds')) cpuMillis += (quantity / Math.max(1, Math.min(3600, (nowMs - at) / 1000))) * 1000;
    else memoryMiB += quantity / (1024 * 1024);
  }
  return { cpuMillis, memoryMiB };
}
