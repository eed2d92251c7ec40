import { Inject, Injectable } from '@nestjs/common';
import { ErrorCode, GureumError, type HostAction, type HostView, type OperatorCaller } from '@gureum/contracts';
import type { Logger } from '@gureum/runtime';
import { DataSource, type EntityManager } from 'typeorm';
import { AfterCommit } from '../common/after-commit';
import { LOGGER } from '../common/tokens';
import { inTransaction, queryRows, SCHEMA } from '../database/sql';
import type { HostState } from '../placement/placement';
import { DrainHostsUseCase } from './drain-hosts.usecase';
import { AGENT_AUTHORIZATION, type AgentAuthorization } from './enrolment/agent-authorization';
import { enrolledAgents, lockAuthorization } from './enrolment/enrol-agent.usecase';
import { hostStateAfter } from './host-state';
import { countHostWorkloads, recordHostTransition } from './host-store';
import { loadHostViews } from './host-view';

export interface HostActionCommand {
  caller: OperatorCaller;
  hostId: string;
  action: HostAction;
}

/** An operator's cordon / uncordon / drain / maintenance / decommission of one host. */
@Injectable()
export class HostActionUseCase {
  constructor(
    private readonly dataSource: DataSource,
    private readonly afterCommit: AfterCommit,
    private readonly drain: DrainHostsUseCase,
    @Inject(AGENT_AUTHORIZATION) private readonly authorization: AgentAuthorization,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async execute({ caller, hostId, action }: HostActionCommand): Promise<HostView> {
    const change = await inTransaction(this.dataSource, async (manager) => {
      const [host] = await queryRows<{ state: HostState }>(manager, `SELECT "state" FROM "${SCHEMA}"."hosts" WHERE "id" = $1 FOR UPDATE`, [hostId]);
      if (!host) throw new GureumError(ErrorCode.NotFound, `host ${hostId} does not exist`, { hostId });
      const workloads = await countHostWorkloads(manager, hostId);
      const to = hostStateAfter(hostId, host.state, action, workloads);
      if (to !== host.state) {
        await manager.query(
          `UPDATE "${SCHEMA}"."hosts"
              SET "state" = $2, "updated_at" = now(), "state_before_lost" = NULL,
                  "drain_total" = CASE WHEN $2 = 'draining' THEN $3::int ELSE NULL END,
                  "drain_blocked" = NULL,
                  -- Maintenance allowed the agent to be silent: from here on it must heartbeat again.
                  "left_maintenance_at" = CASE WHEN $4::boolean THEN now() ELSE "left_maintenance_at" END
            WHERE "id" = $1`,
          [hostId, to, workloads, host.state === 'maintenance'],
        );
        await recordHostTransition(manager, hostId, host.state, to, `${action} by ${caller.principalId}`);
        if (to === 'decommissioned') await this.revokeCredentials(manager, hostId);
      }
      return { from: host.state, to };
    });

    if (change.from !== change.to) {
      this.logger.info({ nodeId: hostId, from: change.from, to: change.to, principalId: caller.principalId, requestId: caller.requestId }, `host ${action}`);
      // Back to ready: room for pending workloads.
      this.afterCommit.run({ capacityFreed: change.to === 'ready' });
    }
    // Start moving at once rather than at the monitor's next tick; progress shows in the view.
    if (change.to === 'draining') await this.drain.execute(hostId);
    const [view] = await loadHostViews(this.dataSource.manager, hostId);
    return view!;
  }

  /** A retired host's enrolled credentials stop working, in the same transaction. */
  private async revokeCredentials(manager: EntityManager, hostId: string): Promise<void> {
    if (!this.authorization.enabled) return;
    await lockAuthorization(manager);
    const deleted = await queryRows<{ node_id: string }>(manager, `DELETE FROM "${SCHEMA}"."agent_credentials" WHERE "node_id" = $1 RETURNING "node_id"`, [hostId]);
    if (deleted.length > 0) await this.authorization.apply(await enrolledAgents(manager));
  }
}
