import { Controller } from '@nestjs/common';
import { Commands, type ReplyOf, type ValidRequestOf } from '@gureum/contracts';
import { CommandPayload, OnCommand } from '@gureum/messaging';
import { CreateWorkloadUseCase } from './create-workload.usecase';
import { DeleteWorkloadUseCase } from './delete-workload.usecase';
import { GetWorkloadUseCase } from './get-workload.usecase';
import { ListWorkloadsUseCase } from './list-workloads.usecase';
import { StartWorkloadUseCase } from './start-workload.usecase';
import { StopWorkloadUseCase } from './stop-workload.usecase';

const CREATE = Commands.workloadCreate.subject;
const GET = Commands.workloadGet.subject;
const LIST = Commands.workloadList.subject;
const STOP = Commands.workloadStop.subject;
const START = Commands.workloadStart.subject;
const DELETE = Commands.workloadDelete.subject;

/** Tenant commands from the api. Payloads arrive validated (caller included); errors are mapped by RpcErrorFilter. */
@Controller()
export class WorkloadController {
  constructor(
    private readonly createWorkload: CreateWorkloadUseCase,
    private readonly getWorkload: GetWorkloadUseCase,
    private readonly listWorkloads: ListWorkloadsUseCase,
    private readonly stopWorkload: StopWorkloadUseCase,
    private readonly startWorkload: StartWorkloadUseCase,
    private readonly deleteWorkload: DeleteWorkloadUseCase,
  ) {}

  @OnCommand(CREATE)
  create(@CommandPayload(CREATE) request: ValidRequestOf<typeof CREATE>): Promise<ReplyOf<typeof CREATE>> {
    return this.createWorkload.execute(request);
  }

  @OnCommand(GET)
  get(@CommandPayload(GET) request: ValidRequestOf<typeof GET>): Promise<ReplyOf<typeof GET>> {
    return this.getWorkload.execute(request);
  }

  @OnCommand(LIST)
  list(@CommandPayload(LIST) request: ValidRequestOf<typeof LIST>): Promise<ReplyOf<typeof LIST>> {
    return this.listWorkloads.execute(request);
  }

  @OnCommand(STOP)
  stop(@CommandPayload(STOP) request: ValidRequestOf<typeof STOP>): Promise<ReplyOf<typeof STOP>> {
    return this.stopWorkload.execute(request);
  }

  @OnCommand(START)
  start(@CommandPayload(START) request: ValidRequestOf<typeof START>): Promise<ReplyOf<typeof START>> {
    return this.startWorkload.execute(request);
  }

  @OnCommand(DELETE)
  delete(@CommandPayload(DELETE) request: ValidRequestOf<typeof DELETE>): Promise<ReplyOf<typeof DELETE>> {
    return this.deleteWorkload.execute(request);
  }
}
