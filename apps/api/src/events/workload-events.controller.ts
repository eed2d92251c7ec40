import { Controller, Get, Inject, Param } from '@nestjs/common';
import { Commands, type Caller, type WorkloadEventList } from '@gureum/contracts';
import { Bus, ContractPipe } from '@gureum/messaging';
import { TenantCaller } from '../auth/tenant-caller.decorator';
import { WorkloadPathSchema, type WorkloadPath } from '../workloads/workload-http.schemas';

/** `GET /v1/workloads/{id}/events`: the state history of one of the tenant's own workloads. */
@Controller('v1/workloads')
export class WorkloadEventsController {
  constructor(@Inject(Bus) private readonly bus: Bus) {}

  @Get(':id/events')
  async events(@TenantCaller() caller: Caller, @Param(new ContractPipe(WorkloadPathSchema, 'path parameters')) { id }: WorkloadPath): Promise<WorkloadEventList> {
    return this.bus.request(Commands.workloadEvents.subject, { caller, workloadId: id });
  }
}
