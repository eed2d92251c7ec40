import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Query, Res } from '@nestjs/common';
import { Commands, WorkloadSpecSchema, type Caller, type WorkloadPage, type WorkloadSpec, type WorkloadView } from '@gureum/contracts';
import { Bus, ContractPipe } from '@gureum/messaging';
import { TenantCaller } from '../auth/tenant-caller.decorator';
import { WorkloadAdmission } from '../billing/workload-admission';
import type { HttpResponse } from '../http/http-context';
import { IdempotencyKey } from './idempotency-key.decorator';
import { ListWorkloadsQuerySchema, WorkloadPathSchema, type ListWorkloadsQuery, type WorkloadPath } from './workload-http.schemas';

/** Tenant workload routes (authorised by AccessGuard from API_ROUTES): validate, forward to the scheduler, return its answer. */
@Controller('v1/workloads')
export class WorkloadsController {
  constructor(
    @Inject(Bus) private readonly bus: Bus,
    @Inject(WorkloadAdmission) private readonly admission: WorkloadAdmission,
  ) {}

  @Post()
  @HttpCode(201)
  async create(
    @TenantCaller() caller: Caller,
    @Body(new ContractPipe(WorkloadSpecSchema, 'workload spec')) spec: WorkloadSpec,
    @IdempotencyKey() idempotencyKey: string | undefined,
    @Res({ passthrough: true }) response: HttpResponse,
  ): Promise<WorkloadView> {
    // Billing's hard budget limit: refused (or 503 when billing cannot answer) before the scheduler sees it.
    await this.admission.assertMayCreate(caller);
    const view = await this.bus.request(Commands.workloadCreate.subject, { caller, spec, ...(idempotencyKey ? { idempotencyKey } : {}) });
    response.setHeader('Location', `/v1/workloads/${view.id}`);
    return view;
  }

  @Get()
  async list(
    @TenantCaller() caller: Caller,
    @Query(new ContractPipe(ListWorkloadsQuerySchema, 'query')) query: ListWorkloadsQuery,
  ): Promise<WorkloadPage> {
    return this.bus.request(Commands.workloadList.subject, { caller, limit: query.limit, ...(query.cursor ? { cursor: query.cursor } : {}) });
  }

  @Get(':id')
  async get(@TenantCaller() caller: Caller, @Param(new ContractPipe(WorkloadPathSchema, 'path parameters')) { id: workloadId }: WorkloadPath): Promise<WorkloadView> {
    return this.bus.request(Commands.workloadGet.subject, { caller, workloadId });
  }

  @Post(':id/stop')
  @HttpCode(202)
  async stop(@TenantCaller() caller: Caller, @Param(new ContractPipe(WorkloadPathSchema, 'path parameters')) { id: workloadId }: WorkloadPath): Promise<WorkloadView> {
    return this.bus.request(Commands.workloadStop.subject, { caller, workloadId });
  }

  @Post(':id/start')
  @HttpCode(202)
  async start(@TenantCaller() caller: Caller, @Param(new ContractPipe(WorkloadPathSchema, 'path parameters')) { id: workloadId }: WorkloadPath): Promise<WorkloadView> {
    return this.bus.request(Commands.workloadStart.subject, { caller, workloadId });
  }

  @Delete(':id')
  @HttpCode(202)
  async delete(@TenantCaller() caller: Caller, @Param(new ContractPipe(WorkloadPathSchema, 'path parameters')) { id: workloadId }: WorkloadPath): Promise<WorkloadView> {
    return this.bus.request(Commands.workloadDelete.subject, { caller, workloadId });
  }
}
