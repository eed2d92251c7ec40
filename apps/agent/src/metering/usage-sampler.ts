import { concreteSubject, NATS_MSG_ID_HEADER, UsageSampleSchema, type UsageSample } from '@gureum/contracts';
import { headers } from '@nats-io/transport-node';
import type { NatsConnection } from '@gureum/messaging';
import { env, loadConfig } from '@gureum/runtime';
import type { Logger } from 'pino';
import { z } from 'zod';
import { DriverError, type TaskStatus, type WorkloadDriver } from '../driver';
import { NO_IO_COUNTERS, type IoCounters, type IoCounterSource } from './io-counters';

export const SamplerEnvSchema = z.object({ GUREUM_AGENT_SAMPLE_MS: env.positiveInt(10_000) });

/** `GUREUM_AGENT_SAMPLE_MS` (default 10 s), validated like the rest of the agent's configuration. */
export function sampleIntervalFromEnv(environment: NodeJS.ProcessEnv = process.env): number {
  return loadConfig(SamplerEnvSchema, environment).GUREUM_AGENT_SAMPLE_MS;
}

/** Where samples go: a plain core publish (agents may not call the JetStream API). */
export type UsagePublisher = (subject: string, payload: string, msgId: string) => void;

export function natsUsagePublisher(nc: NatsConnection): UsagePublisher {
  return (subject, payload, msgId) => {
    const h = headers();
    h.set(NATS_MSG_ID_HEADER, msgId);
    nc.publish(subject, payload, { headers: h });
  };
}

export interface UsageSamplerOptions {
  nodeId: string;
  intervalMs: number;
  now?: () => Date;
  /** Network and block-I/O bytes by the task's host pid; without it those counters are null. */
  io?: IoCounterSource;
}

/**
 * Reads every running task's cgroup counters through the driver on an interval and publishes
 * one sample per task on `agent.<nodeId>.evt.usage.v1`. The sample id (and Nats-Msg-Id) is
 * node + workload + handle + sample time, so a re-sent sample is the same sample everywhere
 * downstream. Which tasks run is learned from the reconciler (`observe`); a task that stopped
 * since is skipped quietly.
 */
export class UsageSampler {
  private tasks: TaskStatus[] = [];
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private lastSampleMs = 0;

  constructor(
    private readonly options: UsageSamplerOptions,
    private readonly driver: Pick<WorkloadDriver, 'stats'>,
    private readonly publish: UsagePublisher,
    private readonly logger: Logger,
  ) {}

  /** The tasks running as of the latest reconcile pass. */
  observe(running: readonly TaskStatus[]): void {
    this.tasks = running.filter((task) => task.state === 'running');
  }

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.sampleOnce()
        .then(() => undefined)
        .finally(() => (this.running = null));
    }, this.options.intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One round over the known running tasks; returns the samples published. */
  async sampleOnce(): Promise<UsageSample[]> {
    const published: UsageSample[] = [];
    for (const task of this.tasks) {
      // Strictly increasing per agent run, so two rounds never share a sample id.
      const sampledAtMs = Math.max((this.options.now ?? (() => new Date()))().getTime(), this.lastSampleMs + 1);
      this.lastSampleMs = sampledAtMs;
      try {
        const stats = await this.driver.stats(task.handleId);
        const sample = UsageSampleSchema.parse({
          sampleId: `${task.workloadId}/${task.handleId}/${sampledAtMs}`,
          nodeId: this.options.nodeId,
          workloadId: task.workloadId,
          tenantId: task.tenantId,
          handleId: task.handleId,
          sampledAt: new Date(sampledAtMs).toISOString(),
          cpuUsageNs: stats.cpuUsageNs.toString(),
          memoryBytes: stats.memoryBytes,
          memoryPeakBytes: stats.memoryPeakBytes,
          pids: stats.pids,
          ...ioFields(await this.readIo(task)),
        });
        this.publish(concreteSubject('agent.*.evt.usage.v1', this.options.nodeId), JSON.stringify(sample), `${this.options.nodeId}/${sample.sampleId}`);
        published.push(sample);
      } catch (error) {
        if (error instanceof DriverError && (error.code === 'task_not_running' || error.code === 'task_not_found')) continue;
        this.logger.warn({ err: error, workloadId: task.workloadId, tenantId: task.tenantId, handleId: task.handleId }, 'usage sample failed');
      }
    }
    if (published.length > 0) this.logger.debug({ samples: published.length }, 'usage sampled');
    return published;
  }

  /** I/O counters are extras: a task whose process just went away still gets its CPU and memory sample. */
  private async readIo(task: TaskStatus): Promise<IoCounters> {
    if (!this.options.io || task.pid === null) return NO_IO_COUNTERS;
    try {
      return await this.options.io.read(task.pid);
    } catch (error) {
      this.logger.debug({ err: error, workloadId: task.workloadId, tenantId: task.tenantId, handleId: task.handleId }, 'no I/O counters for this sample');
      return NO_IO_COUNTERS;
    }
  }
}

function ioFields(io: IoCounters): Pick<UsageSample, 'networkRxBytes' | 'networkTxBytes' | 'blockReadBytes' | 'blockWriteBytes'> {
  const text = (value: bigint | null) => (value === null ? null : value.toString());
  return { networkRxBytes: text(io.networkRxBytes), networkTxBytes: text(io.networkTxBytes), blockReadBytes: text(io.blockReadBytes), blockWriteBytes: text(io.blockWriteBytes) };
}
