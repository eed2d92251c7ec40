import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from '@gureum/runtime';
import { DataSource } from 'typeorm';
import { LOGGER } from '../../common/tokens';
import { inTransaction } from '../../database/sql';
import { AGENT_AUTHORIZATION, type AgentAuthorization } from './agent-authorization';
import { enrolledAgents, lockAuthorization } from './enrol-agent.usecase';

/**
 * Rewrites the broker's authorization from the database at scheduler start: the deploy may
 * have regenerated the file from its static users alone, and enrolled agents must keep working.
 * A failure is logged, not fatal: everything but enrolment works without it.
 */
@Injectable()
export class SyncAgentAuthorizationUseCase {
  constructor(
    private readonly dataSource: DataSource,
    @Inject(AGENT_AUTHORIZATION) private readonly authorization: AgentAuthorization,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async execute(): Promise<void> {
    if (!this.authorization.enabled) return;
    try {
      const count = await inTransaction(this.dataSource, async (manager) => {
        await lockAuthorization(manager);
        const agents = await enrolledAgents(manager);
        await this.authorization.apply(agents);
        return agents.length;
      });
      this.logger.info({ enrolledAgents: count }, 'broker authorization synchronised with enrolled agents');
    } catch (error) {
      this.logger.error({ err: error }, 'could not synchronise the broker authorization; enrolled agents may be refused until the next enrolment');
    }
  }
}
