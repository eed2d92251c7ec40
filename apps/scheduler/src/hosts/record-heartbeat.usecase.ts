import { Inject, Injectable } from '@nestjs/common';
import { ErrorCode, GureumError, type Heartbeat } from '@gureum/contracts';
import type { Logger } from '@gureum/runtime';
import { DataSource } from 'typeorm';
import { AfterCommit } from '../common/after-commit';
import { LOGGER } from '../common/tokens';
import { inTransaction, queryRows, SCHEMA } from '../database/sql';
import { normalizeImageRef, vmTemplateKey, type HostState } from '../placement/placement';
import { recordHostTransition } from './host-store';

/** PostgreSQL `integer`; a report beyond it (2 PiB of memory…) is clamped rather than refused. */
const INT32_MAX = 2_147_483_647;

export interface RecordHeartbeatCommand {
  /** From the subject, which NATS permissions tie to the sending agent. */
  nodeId: string;
  heartbeat: Heartbeat;
}

@Injectable()
export class RecordHeartbeatUseCase {
  constructor(
    private readonly dataSource: DataSource,
    private readonly afterCommit: AfterCommit,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async execute({ nodeId, heartbeat }: RecordHeartbeatCommand): Promise<void> {
    if (heartbeat.nodeId !== nodeId) {
      throw new GureumError(ErrorCode.ValidationFailed, `heartbeat on node ${nodeId}'s subject claims to be from ${heartbeat.nodeId}`, {
        subjectNodeId: nodeId,
        payloadNodeId: heartbeat.nodeId,
      });
    }
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

    const previous = await inTransaction(this.dataSource, async (manager) => {
      const [before] = await queryRows<{ state: HostState; boot_id: string; state_before_lost: HostState | null }>(
        manager,
        `SELECT "state", "boot_id", "state_before_lost" FROM "${SCHEMA}"."hosts" WHERE "id" = $1 FOR UPDATE`,
        [nodeId],
      );
      // A decommissioned host stays retired whatever it sends.
      if (before?.state === 'decommissioned') return before;
      // Heartbeats only ever bring a host from lost back (to what it was before, so an
      // operator's cordon or drain survives the outage); they never undo an operator's state.
      // ON CONFLICT covers two replicas seeing a new host's first heartbeats at once.
      await manager.query(
        `INSERT INTO "${SCHEMA}"."hosts"
           ("id", "state", "drivers", "labels", "capacity_cpu_millis", "capacity_memory_mib", "capacity_pids", "images", "boot_id", "last_heartbeat_at")
         VALUES ($1, 'ready', $2, $3, $4, $5, $6, $7, $8, now())
         ON CONFLICT ("id") DO UPDATE SET
           "state" = CASE WHEN "hosts"."state" = 'lost' THEN COALESCE("hosts"."state_before_lost", 'ready') ELSE "hosts"."state" END,
           "state_before_lost" = NULL,
           "drivers" = EXCLUDED."drivers", "labels" = EXCLUDED."labels",
           "capacity_cpu_millis" = EXCLUDED."capacity_cpu_millis", "capacity_memory_mib" = EXCLUDED."capacity_memory_mib",
           "capacity_pids" = EXCLUDED."capacity_pids", "images" = EXCLUDED."images", "boot_id" = EXCLUDED."boot_id",
           "last_heartbeat_at" = now(), "updated_at" = now()`,
        values,
      );
      if (!before) await recordHostTransition(manager, nodeId, null, 'ready', 'first heartbeat');
      else if (before.state === 'lost') await recordHostTransition(manager, nodeId, 'lost', before.state_before_lost ?? 'ready', 'heartbeat resumed');
      return before ?? null;
    });

    if (previous?.state === 'decommissioned') {
      this.logger.warn({ nodeId, bootId: heartbeat.bootId }, 'ignored heartbeat of a decommissioned host');
      return;
    }
    const log = { nodeId, bootId: heartbeat.bootId, agentVersion: heartbeat.agentVersion, capacity };
    if (previous === null) this.logger.info(log, 'host joined');
    else if (previous.state === 'lost') this.logger.info(log, 'lost host is back');
    else if (previous.boot_id !== heartbeat.bootId) this.logger.info(log, 'agent restarted');
    else this.logger.trace(log, 'heartbeat');
    // New or returning capacity: pending workloads may fit now.
    if (previous === null || previous.state === 'lost') this.afterCommit.run({ capacityFreed: true });
  }
}
