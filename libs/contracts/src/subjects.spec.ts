import { Commands, concreteSubject, nodeIdOfSubject, Signals } from './subjects';
import { CreateWorkloadRequestSchema } from './workload';

describe('subjects', () => {
  it('are unique and follow <context>.<audience>.<entity>.<verb>.vN', () => {
    const all = [...Object.values(Commands), ...Object.values(Signals)].map((d) => d.subject);
    expect(new Set(all).size).toBe(all.length);
    for (const subject of all) expect(subject).toMatch(/^[a-z*]+(\.[a-z*-]+){3,}\.v[0-9]+$/);
  });

  it('binds node-scoped subjects to one node and reads the node back from the subject', () => {
    const subject = concreteSubject(Commands.agentReport.subject, 'node-7');
    expect(subject).toBe('agent.node-7.req.report.v1');
    expect(nodeIdOfSubject(Commands.agentReport.subject, subject)).toBe('node-7');
    expect(nodeIdOfSubject(Commands.agentReport.subject, 'agent.node-7.req.assignments.v1')).toBeNull();
    expect(() => concreteSubject(Commands.agentReport.subject, 'Node_7')).toThrow(/valid node id/);
    expect(() => concreteSubject(Commands.agentReport.subject, 'a.>')).toThrow(/valid node id/);
  });

  it('rejects unknown fields and non-positive resources in a create request', () => {
    const caller = { principalId: 'k1', tenantId: '7b0c2a4e-1f8e-4a53-9a4f-4f0e6f0d1a11', role: 'member', requestId: 'r1' };
    const spec = { name: 'web', kind: 'container', image: 'gureum/busybox:latest', resources: { cpuMillis: 500, memoryMiB: 64 } };
    expect(CreateWorkloadRequestSchema.safeParse({ caller, spec }).success).toBe(true);
    expect(CreateWorkloadRequestSchema.parse({ caller, spec }).spec.resources.pids).toBe(256);
    expect(CreateWorkloadRequestSchema.safeParse({ caller, spec: { ...spec, privileged: true } }).success).toBe(false);
    expect(CreateWorkloadRequestSchema.safeParse({ caller, spec: { ...spec, resources: { cpuMillis: 0, memoryMiB: 64 } } }).success).toBe(false);
    expect(CreateWorkloadRequestSchema.safeParse({ caller, spec: { ...spec, resources: { cpuMillis: 500, memoryMiB: -1 } } }).success).toBe(false);
    expect(CreateWorkloadRequestSchema.safeParse({ caller, spec: { ...spec, image: 'UPPER/case' } }).success).toBe(false);
    expect(CreateWorkloadRequestSchema.safeParse({ spec }).success).toBe(false);
  });
});
