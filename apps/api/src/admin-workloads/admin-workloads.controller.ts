import { Controller, Get, Inject, Param, Query } from '@nestjs/common';
import { Commands, type OperatorCaller, type WorkloadEventList, type WorkloadPage, type WorkloadView } from '@gureum/contracts';
import { Bus, ContractPipe } from '@gureum/messaging';
import { OperatorCallerParam } from '../auth/tenant-caller.decorator';
import { WorkloadPathSchema, type WorkloadPath } from '../workloads/workload-http.schemas';
import { AdminListWorkloadsQuerySchema, type AdminListWorkloadsQuery } from './admin-workload-http.schemas';

/** Operators' workload views across tenants (the admin console): validate, forward to the scheduler. */
@Controller('v1/admin/workloads')
export class AdminWorkloadsController {
  constructor(@Inject(Bus) private readonly bus: Bus) {}

  @Get()
  async list(
    @OperatorCallerParam() caller: OperatorCaller,
    @Query(new ContractPipe(AdminListWorkloadsQuerySchema, 'query')) query: AdminListWorkloadsQuery,
  ): Promise<WorkloadPage> {
    const { cursor, ...filters } = query;
    return this.bus.request(Commands.adminWorkloadList.subject, { caller, ...filters, ...(cursor ? { cursor } : {}) });
  }

  @Get(':id')
  async get(@OperatorCallerParam() caller: OperatorCaller, @Param(new ContractPipe(WorkloadPathSchema, 'path parameters')) { id }: WorkloadPath): Promise<WorkloadView> {
    return this.bus.request(Commands.adminWorkloadGet.subject, { caller, workloadId: id });
  }

  @Get(':id/events')
  async events(@OperatorCallerParam() caller: OperatorCaller, @Param(new ContractPipe(WorkloadPathSchema, 'path parameters')) { id }: WorkloadPath): Promise<WorkloadEventList> {
    return this.bus.request(Commands.adminWorkloadEvents.subject, { caller, workloadId: id });
  }
}
