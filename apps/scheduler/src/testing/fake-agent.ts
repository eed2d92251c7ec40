import { randomUUID } from 'node:crypto';
import type { AssignmentsReply, Heartbeat, ObservedTask } from '@gureum/contracts';
import { Bus, connectNats, type NatsConnection } from '@gureum/messaging';

/**
 * Test double of a compute node's agent: connects with the node's own NATS credentials (so
 * the server's permissions apply as in production) and speaks the agent contract. Used by the
 * scheduler's integration tests only; it holds no test-harness dependency so it may live in src.
 */
export interface FakeAgentOptions {
  natsUrl: string;
  nodeId: string;
  /** A statically configured user, or an enrolled agent's own NKey seed. */
  credentials: { user: string; password: string; inboxPrefix: string } | { nkeySeed: string; inboxPrefix: string };
  capacity?: { cpuMillis: number; memoryMiB: number; pids: number };
  images?: string[];
}

export class FakeAgent {
  readonly bootId = randomUUID();
  capacity: { cpuMillis: number; memoryMiB: number; pids: number };
  images: string[];
  private heartbeatTimer: NodeJS.Timeout | null = null;

  private constructor(
    readonly nodeId: string,
    readonly bus: Bus,
    options: FakeAgentOptions,
  ) {
    this.capacity = options.capacity ?? { cpuMillis: 4000, memoryMiB: 8192, pids: 4096 };
    this.images = options.images ?? ['gureum/busybox:latest'];
  }

  static async connect(options: FakeAgentOptions): Promise<FakeAgent> {
    const nc: NatsConnection = await connectNats({
      url: options.natsUrl,
      ...('nkeySeed' in options.credentials ? { nkeySeed: options.credentials.nkeySeed } : { user: options.credentials.user, password: options.credentials.password }),
      inboxPrefix: options.credentials.inboxPrefix,
      name: `fake-agent-${options.nodeId}`,
    });
    return new FakeAgent(options.nodeId, new Bus(nc), options);
  }

  heartbeatPayload(overrides: Partial<Heartbeat> = {}): Heartbeat {
    return {
      nodeId: this.nodeId,
      bootId: this.bootId,
      sentAt: new Date().toISOString(),
      agentVersion: 'fake-1',
      labels: { zone: 'test' },
      drivers: [{ driver: 'docker', healthy: true, detail: 'fake', capacity: this.capacity, images: this.images }],
      ...overrides,
    };
  }

  async heartbeat(overrides: Partial<Heartbeat> = {}): Promise<void> {
    this.bus.signal('agent.*.evt.heartbeat.v1', this.heartbeatPayload(overrides), { nodeId: this.nodeId });
    await this.bus.connection.flush();
  }

  keepHeartbeating(intervalMs: number): void {
    this.stopHeartbeating();
    void this.heartbeat();
    this.heartbeatTimer = setInterval(() => void this.heartbeat().catch(() => undefined), intervalMs);
  }

  stopHeartbeating(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  /** `held`: workloads this node keeps a task for without an assignment (the reply may release them). */
  assignments(held?: string[]): Promise<AssignmentsReply> {
    return this.bus.request('agent.*.req.assignments.v1', { nodeId: this.nodeId, ...(held ? { held } : {}) }, { nodeId: this.nodeId });
  }

  report(observed: ObservedTask[]): Promise<{ applied: number }> {
    return this.bus.request('agent.*.req.report.v1', { nodeId: this.nodeId, observed }, { nodeId: this.nodeId });
  }

  async close(): Promise<void> {
    this.stopHeartbeating();
    await this.bus.connection.drain();
  }
}

/** One observed task, as an agent would report it. */
export function observedTask(workloadId: string, generation: number, state: ObservedTask['state'], extra: Partial<ObservedTask> = {}): ObservedTask {
  return {
    workloadId,
    generation,
    handleId: state === 'absent' ? null : `task-${workloadId.slice(0, 8)}`,
    state,
    exitCode: null,
    oomKilled: false,
    startedAt: null,
    finishedAt: null,
    error: null,
    ...extra,
  };
}
