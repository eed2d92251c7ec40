import type { Principal } from '../auth/principal';
import { feedSubjectFor, toClientEvent } from './client-event';

const TENANT_A = '7b0c2a4e-1f8e-4a53-9a4f-4f0e6f0d1a11';
const TENANT_B = '0d3f8a51-2c44-4e0b-8d8c-1c9b7a6e5f40';
const owner: Principal = { principalId: 'k1', kind: 'api_key', tenantId: TENANT_A, role: 'owner' };
const operator: Principal = { principalId: 'op', kind: 'user', tenantId: null, role: 'operator' };

function stateChange(tenantId: string): Record<string, unknown> {
  return {
    eventId: 'c6f1d7b8-3e1a-4b9a-9d59-2c4e1f0a7b11',
    workloadId: '9e2b6c1d-7f3a-4e5b-8c9d-0a1b2c3d4e5f',
    tenantId,
    hostId: 'node-1',
    from: 'scheduled',
    to: 'running',
    reason: null,
    generation: 1,
    at: '2026-11-27T21:00:00.000Z',
  };
}
const message = (subject: string, payload: unknown, seq = 7) => ({ subject, seq, data: new TextEncoder().encode(typeof payload === 'string' ? payload : JSON.stringify(payload)) });

describe('toClientEvent', () => {
  it("gives a tenant its own workloads' transitions, with the stream sequence as id", () => {
    const result = toClientEvent(owner, message('evt.workload.state.v1', stateChange(TENANT_A)));
    expect(result).toEqual({ event: { id: '7', event: 'workload', data: expect.any(String) } });
    if (!('event' in result)) throw new Error('no event');
    expect(JSON.parse(result.event.data)).toMatchObject({ tenantId: TENANT_A, to: 'running' });
  });

  it("never gives a tenant another tenant's transitions", () => {
    expect(toClientEvent(owner, message('evt.workload.state.v1', stateChange(TENANT_B)))).toEqual({ skip: 'other_tenant' });
  });

  it('gives operators every tenant and host facts; tenants get no host facts', () => {
    expect(toClientEvent(operator, message('evt.workload.state.v1', stateChange(TENANT_B)))).toHaveProperty('event.event', 'workload');
    expect(toClientEvent(operator, message('evt.host.state.v1', { hostId: 'node-1', state: 'cordoned' }))).toHaveProperty('event.event', 'host');
    expect(toClientEvent(owner, message('evt.host.state.v1', { hostId: 'node-1', state: 'cordoned' }))).toEqual({ skip: 'not_for_clients' });
    expect(toClientEvent(operator, message('evt.image.pushed.v1', {}))).toEqual({ skip: 'not_for_clients' });
  });

  it('drops what fails validation instead of passing it on', () => {
    expect(toClientEvent(operator, message('evt.workload.state.v1', '{not json'))).toEqual({ invalid: 'not JSON' });
    expect(toClientEvent(operator, message('evt.workload.state.v1', { ...stateChange(TENANT_A), to: 'exploded' }))).toHaveProperty('invalid');
  });

  it('subscribes tenants to workload facts only', () => {
    expect(feedSubjectFor(owner)).toBe('evt.workload.state.v1');
    expect(feedSubjectFor(operator)).toBe('evt.>');
  });
});
