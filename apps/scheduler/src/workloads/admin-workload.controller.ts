import { Controller } from '@nestjs/common';
import { Commands, type ReplyOf, type ValidRequestOf } from '@gureum/contracts';
import { CommandPayload, OnCommand } from '@gureum/messaging';
import { assertOperator } from '../common/caller-access';
import { AdminGetWorkloadUseCase } from './admin-get-workload.usecase';
import { AdminWorkloadActionUseCase } from './admin-workload-action.usecase';
import { AdminListWorkloadsUseCase } from './admin-list-workloads.usecase';
import { ListWorkloadEventsUseCase } from './list-workload-events.usecase';

const ADMIN_LIST = Commands.adminWorkloadList.subject;
const ADMIN_GET = Commands.adminWorkloadGet.subject;
const ADMIN_EVENTS = Commands.adminWorkloadEvents.subject;
const EVENTS = Commands.workloadEvents.subject;
const ADMIN_STOP = Commands.adminWorkloadStop.subject;
const ADMIN_START = Commands.adminWorkloadStart.subject;
const ADMIN_DELETE = Commands.adminWorkloadDelete.subject;

/** Operators' views across tenants (admin console) and a workload's history for its tenant. */
@Controller()
export class AdminWorkloadController {
  constructor(
    private readonly adminList: AdminListWorkloadsUseCase,
    private readonly adminGet: AdminGetWorkloadUseCase,
    private readonly listEvents: ListWorkloadEventsUseCase,
    private readonly action: AdminWorkloadActionUseCase,
  ) {}

  @OnCommand(ADMIN_STOP)
  stop(@CommandPayload(ADMIN_STOP) request: ValidRequestOf<typeof ADMIN_STOP>): Promise<ReplyOf<typeof ADMIN_STOP>> {
    return this.action.execute('stop', request);
  }

  @OnCommand(ADMIN_START)
  start(@CommandPayload(ADMIN_START) request: ValidRequestOf<typeof ADMIN_START>): Promise<ReplyOf<typeof ADMIN_START>> {
    return this.action.execute('start', request);
  }

  @OnCommand(ADMIN_DELETE)
  delete(@CommandPayload(ADMIN_DELETE) request: ValidRequestOf<typeof ADMIN_DELETE>): Promise<ReplyOf<typeof ADMIN_DELETE>> {
    return this.action.execute('delete', request);
  }

  @OnCommand(ADMIN_LIST)
  list(@CommandPayload(ADMIN_LIST) request: ValidRequestOf<typeof ADMIN_LIST>): Promise<ReplyOf<typeof ADMIN_LIST>> {
    return this.adminList.execute(request);
  }

  @OnCommand(ADMIN_GET)
  get(@CommandPayload(ADMIN_GET) request: ValidRequestOf<typeof ADMIN_GET>): Promise<ReplyOf<typeof ADMIN_GET>> {
    return this.adminGet.execute(request);
  }

  @OnCommand(ADMIN_EVENTS)
  adminEvents(@CommandPayload(ADMIN_EVENTS) request: ValidRequestOf<typeof ADMIN_EVENTS>): Promise<ReplyOf<typeof ADMIN_EVENTS>> {
    assertOperator(request.caller);
    return this.listEvents.execute({ workloadId: request.workloadId, tenantId: null });
  }

  @OnCommand(EVENTS)
  events(@CommandPayload(EVENTS) request: ValidRequestOf<typeof EVENTS>): Promise<ReplyOf<typeof EVENTS>> {
    return this.listEvents.execute({ workloadId: request.workloadId, tenantId: request.caller.tenantId });
  }
}
