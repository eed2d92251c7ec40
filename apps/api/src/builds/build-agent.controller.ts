import { Controller, Inject } from '@nestjs/common';
import { Ctx, NatsContext } from '@nestjs/microservices';
import { Commands, type ReplyOf, type ValidRequestOf } from '@gureum/contracts';
import { CommandPayload, nodeIdFromContext, OnCommand } from '@gureum/messaging';
import { inTransaction } from '@gureum/database';
import { DataSource } from 'typeorm';
import { applyBuildReport, readContextChunk } from './build.store';

const CONTEXT = Commands.agentBuildContext.subject;
const REPORT = Commands.agentBuildReport.subject;

/**
 * Agents fetch build contexts and report builds here. The node is taken from the subject
 * (NATS lets an agent publish only on its own), so an agent only ever reads and reports the
 * builds assigned to it.
 */
@Controller()
export class BuildAgentController {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  @OnCommand(CONTEXT)
  context(@CommandPayload(CONTEXT) request: ValidRequestOf<typeof CONTEXT>, @Ctx() context: NatsContext): Promise<ReplyOf<typeof CONTEXT>> {
    return readContextChunk(this.dataSource.manager, nodeIdFromContext(CONTEXT, context), request.buildId, request.offset);
  }

  @OnCommand(REPORT)
  async report(@CommandPayload(REPORT) request: ValidRequestOf<typeof REPORT>, @Ctx() context: NatsContext): Promise<ReplyOf<typeof REPORT>> {
    const hostId = nodeIdFromContext(REPORT, context);
    const applied = await inTransaction(this.dataSource, (manager) => applyBuildReport(manager, hostId, request));
    return { applied };
  }
}
