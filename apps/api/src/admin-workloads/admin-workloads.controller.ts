import { Controller, Delete, Get, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import { Commands, type OperatorCaller, type WorkloadEventList, type WorkloadPage, type WorkloadView } from '@gureum/contracts';
import { Bus, ContractPipe } from '@gureum/messaging';
import { Context, OperatorCallerParam } from '../auth/tenant-caller.decorator';
import type { RequestContext } from '../http/http-context';
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

  @Post(':id/stop')
  @HttpCode(202)
  async stop(@OperatorCallerParam() caller: OperatorCaller, @Context() context: RequestContext, @Param(new ContractPipe(WorkloadPathSchema, 'path parameters')) { id }: WorkloadPath): Promise<WorkloadView> {
    return audited(context, id, this.bus.request(Commands.adminWorkloadStop.subject, { caller, workloadId: id }));
  }

  @Post(':id/start')
  @HttpCode(202)
  async start(@OperatorCallerParam() caller: OperatorCaller, @Context() context: RequestContext, @Param(new ContractPipe(WorkloadPathSchema, 'path parameters')) { id }: WorkloadPath): Promise<WorkloadView> {
    return audited(context, id, this.bus.request(Commands.adminWorkloadStart.subject, { caller, workloadId: id }));
  }

  @Delete(':id')
  @HttpCode(202)
  async delete(@OperatorCallerParam() caller: OperatorCaller, @Context() context: RequestContext, @Param(new ContractPipe(WorkloadPathSchema, 'path parameters')) { id }: WorkloadPath): Promise<WorkloadView> {
    return audited(context, id, this.bus.request(Commands.adminWorkloadDelete.subject, { caller, workloadId: id }));
  }
}

/** The audit trail names the workload and the tenant the operator acted on. */
async function audited(context: RequestContext, workloadId: string, reply: Promise<WorkloadView>): Promise<WorkloadView> {
  context.auditTarget = `workloads:${workloadId}`;
  const view = await reply;
  context.auditTenantId = view.tenantId;
  return view;
}
