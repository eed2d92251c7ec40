import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { ErrorCode, GureumError, isDependencyUnavailable, type Heartbeat } from '@gureum/contracts';
import type { Logger } from '@gureum/runtime';
import { DataSource } from 'typeorm';
import { AfterCommit } from '../common/after-commit';
import { LOGGER, SCHEDULER_SETTINGS, type SchedulerSettings } from '../common/tokens';
import { inTransaction, queryRows, SCHEMA } from '../database/sql';
import { normalizeImageRef, vmTemplateKey, type HostState } from '../placement/placement';
import { HeartbeatReceipts } from './heartbeat-receipts';
import { HeartbeatTimestamps, HOST_CONTENT_HASH, type FlushResult } from './heartbeat-timestamps';
import { recordHostTransition } from './host-store';

/** PostgreSQL `integer`; a report beyond it (2 PiB of memory…) is clamped rather than refused. */
const INT32_MAX = 2_147_483_647;

export interface RecordHeartbeatCommand {
  /** From the subject, which NATS permissions tie to the sending agent. */
  nodeId: string;
  heartbeat: Heartbeat;
}

/** What this replica last wrote for a host: the heartbeat's content, and its hash as the row stores it. */
interface KnownHost {
  content: string;
  hash: string;
  /** The newest heartbeat taken by the timestamp-only path, for the full path if the row turns out different. */
  heartbeat: Heartbeat;
}

/**
 * How long an unchanged heartbeat may wait for its timestamp: a quarter of the heartbeat
 * interval, at most 250 ms. A host is lost only after `hostLostAfterMissed` whole intervals.
 */
export function heartbeatFlushMs(heartbeatIntervalMs: number): number {
  return Math.max(10, Math.min(250, Math.floor(heartbeatIntervalMs / 4)));
}

/**
 * Records an agent's heartbeat. A heartbeat whose content is what this replica last wrote for
 * the host only refreshes `last_heartbeat_at`, in a batch with others (`HeartbeatTimestamps`);
 * the first heartbeat, a change of drivers, labels, capacity, images or boot id, a host that is
 * lost or decommissioned, and a row another replica changed all take the full path: one
 * transaction under the host row's lock, with the state transition and its event.
 */
@Injectable()
export class RecordHeartbeatUseCase implements OnModuleDestroy {
  private readonly known = new Map<string, KnownHost>();
  private readonly timestamps: HeartbeatTimestamps;
  /** Heartbeats recorded by each path, and rows a flush sent back to the full path (diagnostics, tests). */
  readonly counts = { full: 0, timestampOnly: 0, sentBackByFlush: 0 };

  constructor(
    private readonly dataSource: DataSource,
    private readonly afterCommit: AfterCommit,
    private readonly receipts: HeartbeatReceipts,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(SCHEDULER_SETTINGS) settings: SchedulerSettings,
  ) {
    this.timestamps = new HeartbeatTimestamps(
      dataSource,
      heartbeatFlushMs(settings.heartbeatIntervalMs),
      (result) => this.afterFlush(result),
      (error, nodeIds) => {
        this.logger.warn({ err: error, hosts: nodeIds.length }, 'could not write heartbeat timestamps; the next heartbeats retry');
        if (isDependencyUnavailable(error)) this.receipts.databaseFailed();
        // Unsure what the rows hold now: their next heartbeat takes the full path.
        for (const nodeId of nodeIds) this.known.delete(nodeId);
      },
    );
  }

  async onModuleDestroy(): Promise<void> {
    await this.timestamps.close();
  }

  /** Writes the timestamps of unchanged heartbeats now (tests; the timer does it otherwise). */
  flushTimestamps(): Promise<void> {
    return this.timestamps.flush();
  }

  async execute({ nodeId, heartbeat }: RecordHeartbeatCommand): Promise<void> {
    if (heartbeat.nodeId !== nodeId) {
      throw new GureumError(ErrorCode.ValidationFailed, `heartbeat on node ${nodeId}'s subject claims to be from ${heartbeat.nodeId}`, {
        subjectNodeId: nodeId,
        payloadNodeId: heartbeat.nodeId,
      });
    }
    // Received is what counts for silence, whether or not the write below succeeds.
    this.receipts.heard(nodeId);
    // Both drivers share one node's capacity (docker's when present); images are Docker's plus
    // the vm driver's templates in their own namespace (see vmTemplateKey).
    const docker = heartbeat.drivers.find((report) => report.driver === 'docker');
    const vm = heartbeat.drivers.find((report) => report.driver === 'vm' && report.healthy);
    const capacity = docker?.capacity ?? vm?.capacity ?? { cpuMillis: 0, memoryMiB: 0, pids: 0 };
    const values = [
      nodeId,
      heartbeat.drivers.filter((report) => report.healthy).map((report) => report.driver),
      JSON.stringify(heartbeat.labels),
      Math.min(capacity.cpuMillis, INT32_MAX),
      Math.min(capacity.memoryMiB, INT32_MAX),
      Math.min(capacity.pids, INT32_MAX),
      [...new Set([...(docker?.images ?? []).map(normalizeImageRef), ...(vm?.images ?? []).map(vmTemplateKey)])],
      heartbeat.bootId,
    ];

    const content = JSON.stringify(values.slice(1));
    const known = this.known.get(nodeId);
    if (known && known.content === content) {
      known.heartbeat = heartbeat;
      this.counts.timestampOnly += 1;
      this.timestamps.add(nodeId, known.hash);
      this.logger.trace({ nodeId, bootId: heartbeat.bootId }, 'heartbeat');
      return;
    }
    try {
      await this.recordInFull(nodeId, heartbeat, values, content, capacity);
    } catch (error) {
      if (isDependencyUnavailable(error)) this.receipts.databaseFailed();
      throw error;
    }
  }

  private async recordInFull(nodeId: string, heartbeat: Heartbeat, values: unknown[], content: string, capacity: Heartbeat['drivers'][number]['capacity']): Promise<void> {
    this.timestamps.drop(nodeId);
    this.known.delete(nodeId);
    this.counts.full += 1;
    const outcome = await inTransaction(this.dataSource, async (manager) => {
      // Silent hosts (unreachable, or lost after the grace window) come back through here.
      const [before] = await queryRows<{ state: HostState; boot_id: string; state_before_lost: HostState | null }>(
        manager,
        `SELECT "state", "boot_id", "state_before_lost" FROM "${SCHEMA}"."hosts" WHERE "id" = $1 FOR UPDATE`,
        [nodeId],
      );
      // A decommissioned host stays retired whatever it sends.
      if (before?.state === 'decommissioned') return { previous: before, hash: null };
      // Heartbeats only ever bring a host from unreachable or lost back (to what it was before,
      // so an operator's cordon or drain survives the outage); they never undo an operator's state.
      // ON CONFLICT covers two replicas seeing a new host's first heartbeats at once.
      const [written] = await queryRows<{ hash: string; at: Date }>(
        manager,
        `INSERT INTO "${SCHEMA}"."hosts"
           ("id", "state", "drivers", "labels", "capacity_cpu_millis", "capacity_memory_mib", "capacity_pids", "images", "boot_id", "last_heartbeat_at")
         VALUES ($1, 'ready', $2, $3, $4, $5, $6, $7, $8, now())
         ON CONFLICT ("id") DO UPDATE SET
           "state" = CASE WHEN "hosts"."state" IN ('unreachable', 'lost') THEN COALESCE("hosts"."state_before_lost", 'ready') ELSE "hosts"."state" END,
           "state_before_lost" = NULL,
           "drivers" = EXCLUDED."drivers", "labels" = EXCLUDED."labels",
           "capacity_cpu_millis" = EXCLUDED."capacity_cpu_millis", "capacity_memory_mib" = EXCLUDED."capacity_memory_mib",
           "capacity_pids" = EXCLUDED."capacity_pids", "images" = EXCLUDED."images", "boot_id" = EXCLUDED."boot_id",
           "last_heartbeat_at" = now(), "updated_at" = now()
         RETURNING ${HOST_CONTENT_HASH('"hosts"')} AS "hash", now() AS "at"`,
        values,
      );
      if (!before) await recordHostTransition(manager, nodeId, null, 'ready', 'first heartbeat', written!.at);
      else if (before.state === 'lost' || before.state === 'unreachable') {
        // An unreachable host is adopted as it is: its workloads kept their placement and stay
        // `unknown` until its agent's next status report says what they are.
        await recordHostTransition(manager, nodeId, before.state, before.state_before_lost ?? 'ready', 'heartbeat resumed', written!.at);
      }
      return { previous: before ?? null, hash: written!.hash };
    });
    const { previous } = outcome;

    if (previous?.state === 'decommissioned') {
      this.logger.warn({ nodeId, bootId: heartbeat.bootId }, 'ignored heartbeat of a decommissioned host');
      return;
    }
    // Only a heartbeat written in full vouches for the row's content.
    if (outcome.hash !== null) this.known.set(nodeId, { content, hash: outcome.hash, heartbeat });
    const log = { nodeId, bootId: heartbeat.bootId, agentVersion: heartbeat.agentVersion, capacity };
    if (previous === null) this.logger.info(log, 'host joined');
    else if (previous.state === 'lost') this.logger.info(log, 'lost host is back');
    else if (previous.state === 'unreachable') this.logger.info(log, 'unreachable host is back within the grace window; adopted');
    else if (previous.boot_id !== heartbeat.bootId) this.logger.info(log, 'agent restarted');
    else this.logger.debug(log, 'host inventory changed');
    // New or returning capacity: pending workloads may fit now.
    if (previous === null || previous.state === 'lost' || previous.state === 'unreachable') this.afterCommit.run({ capacityFreed: true });
  }

  /** Rows a flush could not vouch for (lost, decommissioned, changed elsewhere) get their newest heartbeat in full. */
  private afterFlush(result: FlushResult): void {
    for (const nodeId of result.stale) {
      const known = this.known.get(nodeId);
      this.known.delete(nodeId);
      if (!known) continue;
      this.counts.sentBackByFlush += 1;
      void this.execute({ nodeId, heartbeat: known.heartbeat }).catch((error: unknown) =>
        this.logger.warn({ err: error, nodeId }, 'could not record a heartbeat; the next one retries'),
      );
    }
  }
}
