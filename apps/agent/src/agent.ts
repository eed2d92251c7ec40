import { randomUUID } from 'node:crypto';
import { GureumError, type Assignment, type Heartbeat, type ObservedTask } from '@gureum/contracts';
import { Bus, connectNatsPatiently, serveCommand, type NatsConnection } from '@gureum/messaging';
import type { Logger } from 'pino';
import { DriverError, VmDriver, type DriverFingerprint, type DriverName, type TaskStatus, type WorkloadDriver } from './driver';
import { createHostIoCounterSource } from './metering/io-counters';
import { commitWorkload, committableDriverOf } from './image-commands';
import { loggingDriverOf, readContainerLogs } from './container-logs';
import { BuildRunner, type BuildEngine, type BuildRunnerOptions } from './builds/build-runner';
import { natsUsagePublisher, sampleIntervalFromEnv, UsageSampler } from './metering/usage-sampler';
import { Fence } from './reconcile/fence';
import { Reconciler, type AppliedGenerations } from './reconcile/reconciler';
import { VmCommandServer } from './vm/vm-command-server';

export interface AgentOptions {
  nodeId: string;
  nats: { url: string; user?: string; password?: string; nkeySeed?: string };
  heartbeatMs: number;
  reconcileMs: number;
  stopTimeoutSeconds: number;
  labels: Record<string, string>;
  capacityOverrides: { cpuMillis?: number; memoryMiB?: number; pids?: number };
  version: string;
  /** Usage sampling interval; default GUREUM_AGENT_SAMPLE_MS (10 s). */
  sampleMs?: number;
  /** Address this node's QEMU listens on as a live migration's destination; default 127.0.0.1. */
  migrationHost?: string;
  /** The Docker engine image builds run on; without it the node takes no builds. */
  buildEngine?: BuildEngine;
  /** Where builds run (required with `buildEngine`): a sandbox engine per build. */
  buildRunner?: BuildRunnerOptions;
  /** GUREUM_AGENT_FENCE_AFTER_MS: silence from the control plane after which restartable workloads stop. */
  fenceAfterMs?: number;
  /** The clock fencing reads; default Date.now. */
  now?: () => number;
}

export const DEFAULT_FENCE_AFTER_MS = 60_000;
/**
 * Drivers whose workloads the control plane re-places on another host after the disconnect
 * grace window, and so are fenced here; a VM is never re-placed and keeps running.
 */
const RESTARTABLE_DRIVERS: ReadonlySet<DriverName> = new Set(['docker']);

/** Re-fingerprinting (engine info, image list) is slower than a heartbeat; do it less often. */
const FINGERPRINT_EVERY_MS = 10_000;
/** Even with nothing changed, the full observed state is re-sent this often (level-triggered). */
const FULL_REPORT_EVERY_MS = 30_000;

/**
 * The compute-node daemon: heartbeats its capacity, pulls its assignments, makes the node
 * match them through the driver, and reports what it observes. It holds no authority of its
 * own: if the scheduler is unreachable it keeps what runs running and changes nothing.
 */
export class Agent {
  private nc: NatsConnection | null = null;
  private bus: Bus | null = null;
  private readonly bootId = randomUUID();
  /** One reconciler per driver: each assignment goes to the driver its kind names. */
  private readonly reconcilers = new Map<DriverName, Reconciler>();
  /** Which driver runs each running task, as of the latest pass (for usage sampling). */
  private driverOfHandle = new Map<string, WorkloadDriver>();
  private readonly vmCommands: VmCommandServer | null = null;
  private fingerprints: DriverFingerprint[] | null = null;
  private fingerprintAt = 0;
  private timers: NodeJS.Timeout[] = [];
  private reconciling: Promise<void> | null = null;
  private reconcileAgain = false;
  private lastReport = '';
  private lastReportAt = 0;
  private readonly waiting = new Set<string>();
  private stopped = false;
  private sampler: UsageSampler | null = null;
  /** Workloads of kept tasks no assignment listed, asked about in the next request. */
  private held: string[] = [];
  /** Task states changed during the pass in progress, reported without waiting for its end. */
  private readonly changes = new Map<string, ObservedTask>();
  private flushing: Promise<void> | null = null;
  readonly fence: Fence;

  constructor(
    private readonly options: AgentOptions,
    private readonly drivers: WorkloadDriver[],
    applied: AppliedGenerations,
    private readonly logger: Logger,
  ) {
    if (drivers.length === 0) throw new Error('an agent needs at least one driver');
    const vm = drivers.find((driver): driver is VmDriver => driver instanceof VmDriver);
    if (vm) {
      const settings = { nodeId: options.nodeId, migrationHost: options.migrationHost ?? '127.0.0.1', stopTimeoutSeconds: options.stopTimeoutSeconds };
      this.vmCommands = new VmCommandServer(settings, vm, logger);
    }
    this.fence = new Fence({
      afterMs: options.fenceAfterMs ?? DEFAULT_FENCE_AFTER_MS,
      now: options.now ?? Date.now,
      logger,
      onFence: () => this.fenceRestartable(),
    });
    for (const driver of drivers) {
      const isProtected = driver === vm ? (workloadId: string) => this.vmCommands?.isIncoming(workloadId) ?? false : undefined;
      this.reconcilers.set(driver.name, new Reconciler(options.nodeId, driver, applied, logger, options.stopTimeoutSeconds, isProtected));
    }
  }

  async start(): Promise<void> {
    const { nodeId } = this.options;
    this.nc = await connectNatsPatiently(
      {
        url: this.options.nats.url,
        name: `agent-${nodeId}`,
        ...(this.options.nats.nkeySeed
          ? { nkeySeed: this.options.nats.nkeySeed }
          : this.options.nats.user
            ? { user: this.options.nats.user, password: this.options.nats.password ?? '' }
            : {}),
        inboxPrefix: `_INBOX.agent-${nodeId}`,
      },
      { onRetry: (error, attempt) => this.logger.warn({ err: error, attempt }, 'NATS not reachable yet, retrying') },
    );
    this.bus = new Bus(this.nc, 10_000);
    // The fencing window counts from here: a slow connect at boot must not fence on the first tick.
    this.fence.contact();
    this.bus.onSignal('agent.*.cmd.reconcile.v1', () => this.kick('nudged by scheduler'), {
      nodeId,
      onInvalid: (error, subject) => this.logger.warn({ err: error, subject }, 'ignored invalid reconcile signal'),
    });
    this.vmCommands?.listen(this.bus);
    // Commands on the node's own subject (NATS lets only this agent subscribe there).
    serveCommand(this.nc, 'agent.*.cmd.commit.v1', (request) => commitWorkload(committableDriverOf(this.drivers), nodeId, request), {
      nodeId,
      onError: (error) => this.logger.error({ err: error }, 'commit command failed'),
    });
    serveCommand(this.nc, 'agent.*.cmd.container.logs.v1', (request) => readContainerLogs(loggingDriverOf(this.drivers), nodeId, request), {
      nodeId,
      onError: (error) => this.logger.warn({ err: error }, 'container logs command failed'),
    });
    if (this.options.buildEngine && this.options.buildRunner) {
      await this.options.buildRunner.sandboxes.reap().catch((error: unknown) => this.logger.error({ err: error }, 'could not reap leftover build sandboxes'));
      const builds = new BuildRunner(this.bus, nodeId, this.options.buildEngine, this.logger, this.options.buildRunner);
      serveCommand(this.nc, 'agent.*.cmd.build.v1', async (request) => builds.accept(request), {
        nodeId,
        onError: (error) => this.logger.error({ err: error }, 'build command failed'),
      });
    }
    await this.heartbeat();
    this.timers.push(setInterval(() => void this.heartbeat(), this.options.heartbeatMs));
    this.timers.push(setInterval(() => this.kick('timer'), this.options.reconcileMs));
    const fenceAfterMs = this.options.fenceAfterMs ?? DEFAULT_FENCE_AFTER_MS;
    this.timers.push(setInterval(() => void this.fence.check(), Math.max(100, Math.min(1000, Math.floor(fenceAfterMs / 4)))));
    const io = await createHostIoCounterSource(this.logger);
    // Containers and VMs alike: each task's stats come from the driver that runs it.
    const stats = { stats: (handleId: string) => this.requireDriverOf(handleId).stats(handleId) };
    this.sampler = new UsageSampler({ nodeId, intervalMs: this.options.sampleMs ?? sampleIntervalFromEnv(), io }, stats, natsUsagePublisher(this.nc), this.logger);
    this.sampler.start();
    this.kick('startup');
    this.logger.info({ bootId: this.bootId }, 'agent started');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    this.vmCommands?.close();
    await this.reconciling;
    await this.sampler?.stop();
    await this.nc?.drain().catch(() => undefined);
    // Workloads keep running: an agent going away must not take tenants' containers with it.
  }

  /** Runs a reconcile pass now, or right after the one in progress. */
  kick(reason: string): void {
    if (this.stopped) return;
    if (this.reconciling) {
      this.reconcileAgain = true;
      return;
    }
    this.reconciling = this.reconcileOnce(reason)
      .catch((error: unknown) => {
        // The scheduler being away is an expected condition, not a stack trace.
        if (error instanceof GureumError) this.logger.warn({ code: error.code, reason }, `reconcile pass skipped: ${error.message}`);
        else this.logger.warn({ err: error, reason }, 'reconcile pass failed; will retry');
      })
      .finally(() => {
        this.reconciling = null;
        if (this.reconcileAgain) {
          this.reconcileAgain = false;
          this.kick('queued');
        }
      });
  }

  private async reconcileOnce(reason: string): Promise<void> {
    const bus = this.requireBus();
    const { nodeId } = this.options;
    // Only act on a successful answer: without one we cannot tell "unassigned" from "unknown".
    // The tasks we kept last time without an assignment are named, so the answer can release them.
    const asked = this.held;
    // Back from a gap (frozen, or cut off) longer than the scheduler's heartbeat threshold: it
    // has marked our workloads `unknown`, and only a report brings them back, so the full one
    // goes out even if nothing changed here.
    const afterGap = this.fence.silentMs() > 2 * Math.max(this.options.reconcileMs, this.options.heartbeatMs);
    const reply = await bus.request('agent.*.req.assignments.v1', { nodeId, ...(asked.length > 0 ? { held: asked } : {}) }, { nodeId });
    this.fence.contact();
    const released = new Map((reply.released ?? []).map((task) => [task.workloadId, task.reason] as const));
    const observed: ObservedTask[] = [];
    const running: TaskStatus[] = [];
    const held: string[] = [];
    let orphans = 0;
    const driverOfHandle = new Map<string, WorkloadDriver>();
    for (const [name, reconciler] of this.reconcilers) {
      const result = await reconciler.reconcile(
        reply.assignments.filter((assignment) => assignment.driver === name),
        { released, onChange: (task) => this.reportChange(task) },
      );
      observed.push(...result.observed);
      held.push(...result.held);
      orphans += result.removedOrphans.length;
      const driver = this.drivers.find((candidate) => candidate.name === name)!;
      for (const task of result.running) {
        driverOfHandle.set(task.handleId, driver);
        this.waitForExit(driver, task.handleId);
      }
      running.push(...result.running);
    }
    // An assignment for a driver this node does not run is an error the scheduler should see.
    for (const assignment of reply.assignments.filter((candidate) => !this.reconcilers.has(candidate.driver))) {
      observed.push(missingDriver(assignment));
    }
    this.driverOfHandle = driverOfHandle;
    this.vmCommands?.settle(reply.assignments.map((assignment) => assignment.workloadId));
    this.held = held;
    this.logger.debug({ reason, assignments: reply.assignments.length, orphans, held: held.length }, 'reconciled');
    this.sampler?.observe(running);
    // Changes reported mid-pass land first; the full report after them is the newer word.
    await this.flushing;
    await this.report(observed, reply.assignments, afterGap);
    // A task newly held is asked about at once rather than a timer tick later.
    const askedBefore = new Set(asked);
    if (held.some((workloadId) => !askedBefore.has(workloadId))) this.kick('asking about held tasks');
  }

  /** Batches state changes while a pass runs: one report in flight, the next one collects. */
  private reportChange(task: ObservedTask): void {
    this.changes.set(task.workloadId, task);
    this.flushing ??= this.flushChanges().finally(() => {
      this.flushing = null;
    });
  }

  private async flushChanges(): Promise<void> {
    const { nodeId } = this.options;
    while (this.changes.size > 0) {
      const observed = [...this.changes.values()];
      this.changes.clear();
      try {
        await this.requireBus().request('agent.*.req.report.v1', { nodeId, observed }, { nodeId });
        this.fence.contact();
      } catch (error) {
        // The full report at the end of the pass carries them again.
        this.logger.warn({ err: error, tasks: observed.length }, 'reporting changed tasks failed');
      }
    }
  }

  /** Fencing: stops the tasks of restartable drivers (never VMs), after any pass in progress. */
  private async fenceRestartable(): Promise<number> {
    await this.reconciling;
    let stopped = 0;
    for (const [name, reconciler] of this.reconcilers) {
      if (RESTARTABLE_DRIVERS.has(name)) stopped += (await reconciler.fence()).length;
    }
    return stopped;
  }

  private requireDriverOf(handleId: string): WorkloadDriver {
    const driver = this.driverOfHandle.get(handleId);
    if (!driver) throw new DriverError('task_not_found', `no driver knows task ${handleId}`);
    return driver;
  }

  private async report(observed: ObservedTask[], assignments: Assignment[], force = false): Promise<void> {
    const snapshot = JSON.stringify(observed);
    const now = Date.now();
    if (!force && snapshot === this.lastReport && now - this.lastReportAt < FULL_REPORT_EVERY_MS) return;
    const { nodeId } = this.options;
    const reply = await this.requireBus().request('agent.*.req.report.v1', { nodeId, observed }, { nodeId });
    this.fence.contact();
    this.lastReport = snapshot;
    this.lastReportAt = now;
    if (reply.applied > 0) this.logger.info({ applied: reply.applied, assignments: assignments.length }, 'reported observed state');
  }

  /** An exit is an edge we want to report promptly, not at the next timer tick. */
  private waitForExit(driver: WorkloadDriver, handleId: string): void {
    if (this.waiting.has(handleId)) return;
    this.waiting.add(handleId);
    driver
      .wait(handleId)
      .then(() => this.kick('task exited'))
      .catch((error: unknown) => this.logger.debug({ err: error, handleId }, 'wait ended without exit'))
      .finally(() => this.waiting.delete(handleId));
  }

  private async heartbeat(): Promise<void> {
    try {
      const now = Date.now();
      if (!this.fingerprints || now - this.fingerprintAt > FINGERPRINT_EVERY_MS) {
        this.fingerprints = await Promise.all(this.drivers.map((driver) => driver.fingerprint()));
        this.fingerprintAt = now;
      }
      const { cpuMillis, memoryMiB, pids } = this.options.capacityOverrides;
      const heartbeat: Heartbeat = {
        nodeId: this.options.nodeId,
        bootId: this.bootId,
        sentAt: new Date().toISOString(),
        agentVersion: this.options.version,
        labels: this.options.labels,
        drivers: this.fingerprints.map((fingerprint) => ({
          ...fingerprint,
          detail: fingerprint.detail.slice(0, 1024),
          capacity: {
            cpuMillis: cpuMillis ?? fingerprint.capacity.cpuMillis,
            memoryMiB: memoryMiB ?? fingerprint.capacity.memoryMiB,
            pids: pids ?? fingerprint.capacity.pids,
          },
        })),
      };
      this.requireBus().signal('agent.*.evt.heartbeat.v1', heartbeat, { nodeId: this.options.nodeId });
    } catch (error) {
      this.fingerprints = null;
      this.logger.warn({ err: error }, 'heartbeat failed');
    }
  }

  private requireBus(): Bus {
    if (!this.bus) throw new Error('agent not started');
    return this.bus;
  }
}

function missingDriver(assignment: Assignment): ObservedTask {
  return {
    workloadId: assignment.workloadId,
    generation: assignment.generation,
    handleId: null,
    state: 'error',
    exitCode: null,
    oomKilled: false,
    startedAt: null,
    finishedAt: null,
    error: { code: 'driver_missing', message: `this node does not run the ${assignment.driver} driver` },
  };
}
