import { Controller } from '@nestjs/common';
import { Commands, type ReplyOf, type ValidRequestOf } from '@gureum/contracts';
import { CommandPayload, OnCommand } from '@gureum/messaging';
import { HostActionUseCase } from './host-action.usecase';
import { ListHostsUseCase } from './list-hosts.usecase';

const LIST = Commands.hostList.subject;
const GET = Commands.hostGet.subject;
const ACTION = Commands.hostAction.subject;

/** Operator commands over hosts. The payload schemas require an operator caller. */
@Controller()
export class HostAdminController {
  constructor(
    private readonly hosts: ListHostsUseCase,
    private readonly hostAction: HostActionUseCase,
  ) {}

  @OnCommand(LIST)
  list(@CommandPayload(LIST) _request: ValidRequestOf<typeof LIST>): Promise<ReplyOf<typeof LIST>> {
    return this.hosts.list();
  }

  @OnCommand(GET)
  get(@CommandPayload(GET) request: ValidRequestOf<typeof GET>): Promise<ReplyOf<typeof GET>> {
    return this.hosts.get(request.hostId);
  }

  @OnCommand(ACTION)
  act(@CommandPayload(ACTION) request: ValidRequestOf<typeof ACTION>): Promise<ReplyOf<typeof ACTION>> {
    return this.hostAction.execute(request);
  }
}
