import { Events, WorkloadStateChangedSchema } from '@gureum/contracts';
import { z } from 'zod';
import type { Principal } from '../auth/principal';
import type { FeedMessage } from './event-feed';
import type { SseEvent } from './sse';

/**
 * Host state facts are published by the hosts part of the scheduler under this subject; the
 * payload is forwarded as an object (operators only) so the console can show any field of it.
 */
export const HOST_STATE_SUBJECT = 'evt.host.state.v1';
const HostStateSchema = z.record(z.string(), z.unknown());

/** What a principal's feed subscribes to: a tenant only needs workload facts; operators get every fact and keep the ones they see. */
export function feedSubjectFor(principal: Principal): string {
  return principal.role === 'operator' ? 'evt.>' : Events.workloadStateChanged.subject;
}

export type ClientEventResult = { event: SseEvent } | { skip: 'other_tenant' | 'not_for_clients' } | { invalid: string };

/**
 * One stream message → the SSE event this principal may see, or why not. A tenant only ever
 * gets its own workloads' facts; anything that fails validation is dropped, never passed on.
 */
export function toClientEvent(principal: Principal, message: FeedMessage): ClientEventResult {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(message.data));
  } catch {
    return { invalid: 'not JSON' };
  }
  const id = String(message.seq);
  if (message.subject === Events.workloadStateChanged.subject) {
    const parsed = WorkloadStateChangedSchema.safeParse(json);
    if (!parsed.success) return { invalid: parsed.error.message };
    if (principal.role !== 'operator' && parsed.data.tenantId !== principal.tenantId) return { skip: 'other_tenant' };
    return { event: { id, event: 'workload', data: JSON.stringify(parsed.data) } };
  }
  if (message.subject === HOST_STATE_SUBJECT && principal.role === 'operator') {
    const parsed = HostStateSchema.safeParse(json);
    if (!parsed.success) return { invalid: parsed.error.message };
    return { event: { id, event: 'host', data: JSON.stringify(parsed.data) } };
  }
  return { skip: 'not_for_clients' };
}
