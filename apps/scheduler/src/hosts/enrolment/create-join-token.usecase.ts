import { Inject, Injectable } from '@nestjs/common';
import type { JoinToken, OperatorCaller } from '@gureum/contracts';
import type { Logger } from '@gureum/runtime';
import { DataSource } from 'typeorm';
import { LOGGER } from '../../common/tokens';
import { queryRows, SCHEMA } from '../../database/sql';
import { AGENT_AUTHORIZATION, type AgentAuthorization } from './agent-authorization';
import { hashJoinToken, newJoinToken } from './join-token';

export interface CreateJoinTokenCommand {
  caller: OperatorCaller;
  nodeId?: string | undefined;
  ttlSeconds: number;
}

/** An operator's one-time join token: shown once, stored hashed, expiring, single use. */
@Injectable()
export class CreateJoinTokenUseCase {
  constructor(
    private readonly dataSource: DataSource,
    @Inject(AGENT_AUTHORIZATION) private readonly authorization: AgentAuthorization,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async execute({ caller, nodeId, ttlSeconds }: CreateJoinTokenCommand): Promise<JoinToken> {
    // Issuing works either way (tokens can be prepared before enrolment is switched on);
    // presenting one to a scheduler without enrolment configured is refused as unavailable.
    if (!this.authorization.enabled) this.logger.warn({ nodeId: nodeId ?? null }, 'join token issued, but agent enrolment is not configured on this scheduler');
    const token = newJoinToken();
    const [row] = await queryRows<{ expires_at: Date }>(
      this.dataSource.manager,
      `INSERT INTO "${SCHEMA}"."join_tokens" ("token_hash", "node_id", "expires_at", "created_by")
       VALUES ($1, $2, now() + make_interval(secs => $3), $4) RETURNING "expires_at"`,
      [hashJoinToken(token), nodeId ?? null, ttlSeconds, caller.principalId],
    );
    this.logger.info({ nodeId: nodeId ?? null, ttlSeconds, principalId: caller.principalId, requestId: caller.requestId }, 'join token issued');
    return { token, expiresAt: row!.expires_at.toISOString() };
  }
}
