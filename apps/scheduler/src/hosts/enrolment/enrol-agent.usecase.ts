import { Inject, Injectable } from '@nestjs/common';
import { ErrorCode, GureumError, type EnrolReply } from '@gureum/contracts';
import type { Logger } from '@gureum/runtime';
import { DataSource, type EntityManager } from 'typeorm';
import { LOGGER } from '../../common/tokens';
import { inTransaction, queryRows, SCHEMA } from '../../database/sql';
import { AGENT_AUTHORIZATION, type AgentAuthorization, type EnrolledAgent } from './agent-authorization';
import { hashJoinToken } from './join-token';

export interface EnrolAgentCommand {
  token: string;
  nodeId: string;
  publicKey: string;
}

/** One message for every refusal: a caller learns nothing about which tokens exist. */
const REFUSED = 'join token is invalid, expired, already used, or not for this node';

/**
 * Trades a join token for broker credentials of the agent's own: its NKey public key becomes
 * a user confined to `agent.<nodeId>.>`. The token is spent in the same transaction that
 * applies the new authorization, so a failed reload leaves the token usable, and an applied
 * one leaves it spent. Enrolments are serialised (advisory lock) so two replicas never write
 * the authorization file from different views.
 */
@Injectable()
export class EnrolAgentUseCase {
  constructor(
    private readonly dataSource: DataSource,
    @Inject(AGENT_AUTHORIZATION) private readonly authorization: AgentAuthorization,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async execute({ token, nodeId, publicKey }: EnrolAgentCommand): Promise<EnrolReply> {
    if (!this.authorization.enabled) throw new GureumError(ErrorCode.Unavailable, 'agent enrolment is not configured on this scheduler');
    await inTransaction(this.dataSource, async (manager) => {
      await lockAuthorization(manager);
      const [row] = await queryRows<{ node_id: string | null; valid: boolean }>(
        manager,
        `SELECT "node_id", ("used_at" IS NULL AND "expires_at" > now()) AS "valid"
           FROM "${SCHEMA}"."join_tokens" WHERE "token_hash" = $1 FOR UPDATE`,
        [hashJoinToken(token)],
      );
      if (!row || !row.valid || (row.node_id !== null && row.node_id !== nodeId)) {
        throw new GureumError(ErrorCode.Forbidden, REFUSED);
      }
      const [host] = await queryRows<{ state: string }>(manager, `SELECT "state" FROM "${SCHEMA}"."hosts" WHERE "id" = $1`, [nodeId]);
      if (host?.state === 'decommissioned') throw new GureumError(ErrorCode.Forbidden, REFUSED);
      await manager.query(`UPDATE "${SCHEMA}"."join_tokens" SET "used_at" = now(), "used_by_node" = $2 WHERE "token_hash" = $1`, [hashJoinToken(token), nodeId]);
      await manager.query(
        `INSERT INTO "${SCHEMA}"."agent_credentials" ("node_id", "public_key") VALUES ($1, $2)
         ON CONFLICT ("node_id") DO UPDATE SET "public_key" = EXCLUDED."public_key", "enrolled_at" = now()`,
        [nodeId, publicKey],
      );
      await this.authorization.apply(await enrolledAgents(manager));
    });
    this.logger.info({ nodeId, publicKey }, 'agent enrolled');
    return { nodeId, inboxPrefix: `_INBOX.agent-${nodeId}` };
  }
}

export async function lockAuthorization(manager: EntityManager): Promise<void> {
  await manager.query(`SELECT pg_advisory_xact_lock(hashtext('gureum.scheduler.agent-authorization'))`);
}

export async function enrolledAgents(manager: EntityManager): Promise<EnrolledAgent[]> {
  const rows = await queryRows<{ node_id: string; public_key: string }>(manager, `SELECT "node_id", "public_key" FROM "${SCHEMA}"."agent_credentials" ORDER BY "node_id"`);
  return rows.map((row) => ({ nodeId: row.node_id, publicKey: row.public_key }));
}
