import { Controller } from '@nestjs/common';
import { Commands, type ReplyOf, type ValidRequestOf } from '@gureum/contracts';
import { CommandPayload, OnCommand } from '@gureum/messaging';
import { CreateJoinTokenUseCase } from './create-join-token.usecase';
import { EnrolAgentUseCase } from './enrol-agent.usecase';

const CREATE_TOKEN = Commands.hostJoinTokenCreate.subject;
const ENROL = Commands.agentEnrol.subject;

/** Join tokens (operators, via the api) and their one use (agents, as the restricted `enrol` user). */
@Controller()
export class EnrolmentController {
  constructor(
    private readonly createJoinToken: CreateJoinTokenUseCase,
    private readonly enrolAgent: EnrolAgentUseCase,
  ) {}

  @OnCommand(CREATE_TOKEN)
  create(@CommandPayload(CREATE_TOKEN) request: ValidRequestOf<typeof CREATE_TOKEN>): Promise<ReplyOf<typeof CREATE_TOKEN>> {
    return this.createJoinToken.execute(request);
  }

  @OnCommand(ENROL)
  enrol(@CommandPayload(ENROL) request: ValidRequestOf<typeof ENROL>): Promise<ReplyOf<typeof ENROL>> {
    return this.enrolAgent.execute(request);
  }
}
