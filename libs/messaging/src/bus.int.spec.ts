/**
 * The bus against a real nats-server and a real Nest microservice: typed replies, typed
 * errors for invalid payloads and domain failures, and node-scoped subjects that an agent's
 * credentials confine to its own node.
 */
import { Controller, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, NatsContext, Transport, type MicroserviceOptions } from '@nestjs/microservices';
import { ErrorCode, GureumError, type ReplyOf, type ValidRequestOf } from '@gureum/contracts';
import { startNats, type TestNats } from '@gureum/testing';
import pino from 'pino';
import { Bus } from './bus';
import { connectNats, nestNatsOptions, type NatsConnection } from './connection';
import { CommandPayload, nodeIdFromContext, OnCommand, RpcErrorFilter } from './nest';

const TENANT = '0b6f8a52-3c1d-4e2f-9a7b-5c4d3e2f1a0b';
const OTHER_TENANT = '9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a';
const WORKLOAD = '6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d';
const caller = { principalId: 'key-1', tenantId: TENANT, role: 'member' as const, requestId: 'req-1' };

const now = new Date().toISOString();
const view = {
  id: WORKLOAD,
  tenantId: TENANT,
  name: 'web',
  kind: 'container' as const,
  image: 'gureum/busybox:latest',
  command: null,
  env: null,
  resources: { cpuMillis: 500, memoryMiB: 64, pids: 64 },
  state: 'running' as const,
  desiredState: 'running' as const,
  reason: null,
  exitCode: null,
  hostId: 'node-a',
  generation: 0,
  createdAt: now,
  updatedAt: now,
};

@Controller()
class FakeSchedulerController {
  @OnCommand('scheduler.cmd.workload.get.v1')
  get(@CommandPayload('scheduler.cmd.workload.get.v1') request: ValidRequestOf<'scheduler.cmd.workload.get.v1'>): ReplyOf<'scheduler.cmd.workload.get.v1'> {
    if (request.caller.tenantId !== TENANT || request.workloadId !== WORKLOAD) throw new GureumError(ErrorCode.NotFound, 'workload not found');
    return view;
  }

  @OnCommand('scheduler.cmd.workload.stop.v1')
  stop(): never {
    throw new Error('a bug with secret internals');
  }

  @OnCommand('agent.*.req.assignments.v1')
  assignments(
    @CommandPayload('agent.*.req.assignments.v1') request: ValidRequestOf<'agent.*.req.assignments.v1'>,
    @Ctx() context: NatsContext,
  ): ReplyOf<'agent.*.req.assignments.v1'> {
    const nodeId = nodeIdFromContext('agent.*.req.assignments.v1', context);
    if (nodeId !== request.nodeId) throw new GureumError(ErrorCode.ValidationFailed, 'node id of subject and payload differ');
    return { nodeId, assignments: [] };
  }
}

@Module({ controllers: [FakeSchedulerController] })
class FakeSchedulerModule {}

let nats: TestNats;
let service: Awaited<ReturnType<typeof NestFactory.createMicroservice>>;
let control: NatsConnection;
let bus: Bus;

beforeAll(async () => {
  nats = await startNats({ agents: ['node-a', 'node-b'] });
  const settings = { url: nats.url, user: nats.control.user, password: nats.control.password, name: 'fake-scheduler' };
  service = await NestFactory.createMicroservice<MicroserviceOptions>(FakeSchedulerModule, {
    transport: Transport.NATS,
    options: nestNatsOptions(settings, 'scheduler'),
    logger: false,
  });
  service.useGlobalFilters(new RpcErrorFilter(pino({ level: 'silent' })));
  await service.listen();
  control = await connectNats({ ...settings, name: 'test-client' });
  bus = new Bus(control, 2000);
}, 30_000);

afterAll(async () => {
  await control?.close();
  await service?.close();
  await nats?.stop();
});

describe('Bus over real NATS', () => {
  it('returns the validated reply of a command', async () => {
    await expect(bus.request('scheduler.cmd.workload.get.v1', { caller, workloadId: WORKLOAD })).resolves.toMatchObject({ id: WORKLOAD, state: 'running' });
  });

  it('carries a domain error back with its code', async () => {
    const failure = bus.request('scheduler.cmd.workload.get.v1', { caller: { ...caller, tenantId: OTHER_TENANT }, workloadId: WORKLOAD });
    await expect(failure).rejects.toMatchObject({ code: ErrorCode.NotFound, message: 'workload not found' });
  });

  it('answers an invalid payload from a foreign client with a typed validation error', async () => {
    const msg = await control.request('scheduler.cmd.workload.get.v1', JSON.stringify({ pattern: 'x', id: '1', data: { workloadId: 'nope' } }), { timeout: 2000 });
    const reply = msg.json<{ err: { code: string; message: string } }>();
    expect(reply.err.code).toBe(ErrorCode.ValidationFailed);
    expect(reply.err.message).toMatch(/caller/);
  });

  it('hides internals of unexpected failures behind `internal`', async () => {
    const failure = bus.request('scheduler.cmd.workload.stop.v1', { caller, workloadId: WORKLOAD });
    await expect(failure).rejects.toMatchObject({ code: ErrorCode.Internal, message: 'internal error' });
  });

  it('rejects a bad payload before sending it', async () => {
    // @ts-expect-error the compiler rejects a payload that is not the subject's
    const wrong = bus.request('scheduler.cmd.workload.get.v1', { workloadId: WORKLOAD });
    await expect(wrong).rejects.toMatchObject({ code: ErrorCode.ValidationFailed });
  });

  it('reports an unanswered subject as unavailable', async () => {
    await service.close();
    await expect(bus.request('scheduler.cmd.workload.get.v1', { caller, workloadId: WORKLOAD })).rejects.toMatchObject({ code: ErrorCode.Unavailable });
    service = await NestFactory.createMicroservice<MicroserviceOptions>(FakeSchedulerModule, {
      transport: Transport.NATS,
      options: nestNatsOptions({ url: nats.url, user: nats.control.user, password: nats.control.password, name: 'fake-scheduler' }, 'scheduler'),
      logger: false,
    });
    service.useGlobalFilters(new RpcErrorFilter(pino({ level: 'silent' })));
    await service.listen();
  });
});

describe('node-scoped subjects', () => {
  it('let an agent use its own subjects, with the node id taken from the subject', async () => {
    const creds = nats.agent('node-a');
    const agent = await connectNats({ url: nats.url, user: creds.user, password: creds.password, name: 'agent-a', inboxPrefix: creds.inboxPrefix });
    try {
      const agentBus = new Bus(agent, 2000);
      await expect(agentBus.request('agent.*.req.assignments.v1', { nodeId: 'node-a' }, { nodeId: 'node-a' })).resolves.toEqual({ nodeId: 'node-a', assignments: [] });
      // Claiming to be another node in the payload does not help: the subject says who it is.
      await expect(agentBus.request('agent.*.req.assignments.v1', { nodeId: 'node-b' }, { nodeId: 'node-a' })).rejects.toMatchObject({ code: ErrorCode.ValidationFailed });
    } finally {
      await agent.close();
    }
  });

  it("refuse an agent another node's subjects", async () => {
    const creds = nats.agent('node-a');
    const agent = await connectNats({ url: nats.url, user: creds.user, password: creds.password, name: 'agent-a', inboxPrefix: creds.inboxPrefix });
    try {
      const agentBus = new Bus(agent, 1000);
      const impersonation = agentBus.request('agent.*.req.assignments.v1', { nodeId: 'node-b' }, { nodeId: 'node-b' });
      await expect(impersonation).rejects.toBeInstanceOf(GureumError);
      await expect(agentBus.request('scheduler.cmd.workload.get.v1', { caller, workloadId: WORKLOAD })).rejects.toBeInstanceOf(GureumError);
    } finally {
      await agent.close().catch(() => undefined);
    }
  });
});
