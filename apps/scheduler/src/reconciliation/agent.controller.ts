import { Controller } from '@nestjs/common';
import { Ctx, NatsContext } from '@nestjs/microservices';
import { Commands, ErrorCode, GureumError, type ReplyOf, type ValidRequestOf } from '@gureum/contracts';
import { CommandPayload, nodeIdFromContext, OnCommand } from '@gureum/messaging';
import { ApplyStatusReportUseCase } from './apply-status-report.usecase';
import { ListAssignmentsUseCase } from './list-assignments.usecase';

const ASSIGNMENTS = Commands.agentAssignments.subject;
const REPORT = Commands.agentReport.subject;

/**
 * Requests from agents. The node id is read from the subject — NATS lets an agent publish
 * only on its own — and a payload claiming another node is refused.
 */
@Controller()
export class AgentController {
  constructor(
    private readonly listAssignments: ListAssignmentsUseCase,
    private readonly applyStatusReport: ApplyStatusReportUseCase,
  ) {}

  @OnCommand(ASSIGNMENTS)
  assignments(@CommandPayload(ASSIGNMENTS) request: ValidRequestOf<typeof ASSIGNMENTS>, @Ctx() context: NatsContext): Promise<ReplyOf<typeof ASSIGNMENTS>> {
    return this.listAssignments.execute(trustedNodeId(ASSIGNMENTS, context, request.nodeId), request.held ?? []);
  }

  @OnCommand(REPORT)
  report(@CommandPayload(REPORT) request: ValidRequestOf<typeof REPORT>, @Ctx() context: NatsContext): Promise<ReplyOf<typeof REPORT>> {
    return this.applyStatusReport.execute({ nodeId: trustedNodeId(REPORT, context, request.nodeId), report: request });
  }
}

function trustedNodeId(subject: typeof ASSIGNMENTS | typeof REPORT, context: NatsContext, claimed: string): string {
  const nodeId = nodeIdFromContext(subject, context);
  if (claimed !== nodeId) {
    throw new GureumError(ErrorCode.ValidationFailed, `payload names node ${claimed} but was sent on node ${nodeId}'s subject`, {
      subjectNodeId: nodeId,
      payloadNodeId: claimed,
    });
  }
  return nodeId;
}
