import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Query, Req, Res } from '@nestjs/common';
import {
  CreateSnapshotBodySchema,
  ErrorCode,
  GureumError,
  MigrateWorkloadBodySchema,
  SaveSnapshotTemplateBodySchema,
  type Caller,
  type MigrationView,
  type OperatorCaller,
  type SavedVmTemplate,
  type SnapshotList,
  type SnapshotView,
  type VmConsoleChunk,
  type WorkloadView,
} from '@gureum/contracts';
import { Bus, ContractPipe } from '@gureum/messaging';
import type { z } from 'zod';
import { OperatorCallerParam, TenantCaller } from '../auth/tenant-caller.decorator';
import type { HttpRequest, HttpResponse } from '../http/http-context';
import { ConsoleQuerySchema, SnapshotPathSchema, type ConsoleQuery, type SnapshotPath } from './vm-http.schemas';
import { WorkloadPathSchema, type WorkloadPath } from './workload-http.schemas';

/** A whole console log answered at once is capped; `follow` streams without a cap. */
const MAX_CONSOLE_BYTES = 4 * 1024 * 1024;
const FOLLOW_POLL_MS = 300;
const SNAPSHOT_TIMEOUT_MS = 160_000;
const MIGRATE_TIMEOUT_MS = 11 * 60_000;
/** The scheduler waits up to 300 s for the agent's export and push; the api a little longer. */
const SAVE_TEMPLATE_TIMEOUT_MS = 310_000;

/**
 * VM routes. Tenant ones go to the scheduler, which checks the tenant and the VM's state and
 * then asks the VM's agent. The console is read from the agent directly: the scheduler tells
 * (tenant-checked) which host runs the VM, the api reads offset-based chunks from that
 * agent's `agent.<host>.cmd.vm.console.v1`.
 */
@Controller()
export class VmWorkloadsController {
  constructor(@Inject(Bus) private readonly bus: Bus) {}

  @Get('v1/workloads/:id/console')
  async console(
    @TenantCaller() caller: Caller,
    @Param(new ContractPipe(WorkloadPathSchema, 'path parameters')) { id: workloadId }: WorkloadPath,
    @Query(new ContractPipe(ConsoleQuerySchema, 'query')) query: ConsoleQuery,
    @Req() request: HttpRequest,
    @Res() response: HttpResponse,
  ): Promise<void> {
    let hostId = await this.hostOf(caller, workloadId);
    let chunk = await this.readChunk(hostId, workloadId, 0);
    response.statusCode = 200;
    response.setHeader('Content-Type', 'text/plain; charset=utf-8');
    response.setHeader('Cache-Control', 'no-store');
    if (!query.follow) {
      const parts: Buffer[] = [];
      let total = 0;
      for (;;) {
        const data = Buffer.from(chunk.data, 'base64');
        if (data.length === 0 || total >= MAX_CONSOLE_BYTES) break;
        parts.push(data);
        total += data.length;
        chunk = await this.readChunk(hostId, workloadId, chunk.nextOffset);
      }
      response.end(Buffer.concat(parts));
      return;
    }

    let gone = false;
    request.on('close', () => (gone = true));
    response.flushHeaders();
    while (!gone) {
      const data = Buffer.from(chunk.data, 'base64');
      if (data.length > 0) response.write(data);
      else if (!chunk.running) break;
      else await sleep(FOLLOW_POLL_MS);
      if (gone) break;
      try {
        chunk = await this.readChunk(hostId, workloadId, chunk.nextOffset);
      } catch (error) {
        // The VM moved (live migration) or went away: ask where it is now and go on from the same offset there.
        if (!(error instanceof GureumError) || error.code !== ErrorCode.NotFound) break;
        const offset = chunk.nextOffset;
        try {
          hostId = await this.hostOf(caller, workloadId);
          chunk = await this.readChunk(hostId, workloadId, offset);
        } catch {
          break;
        }
      }
    }
    response.end();
  }

  @Post('v1/workloads/:id/pause')
  @HttpCode(202)
  pause(@TenantCaller() caller: Caller, @Param(new ContractPipe(WorkloadPathSchema, 'path parameters')) { id: workloadId }: WorkloadPath): Promise<WorkloadView> {
    return this.bus.request('scheduler.cmd.workload.pause.v1', { caller, workloadId }, { timeoutMs: 40_000 });
  }

  @Post('v1/workloads/:id/resume')
  @HttpCode(202)
  resume(@TenantCaller() caller: Caller, @Param(new ContractPipe(WorkloadPathSchema, 'path parameters')) { id: workloadId }: WorkloadPath): Promise<WorkloadView> {
    return this.bus.request('scheduler.cmd.workload.resume.v1', { caller, workloadId }, { timeoutMs: 40_000 });
  }

  @Post('v1/workloads/:id/snapshots')
  @HttpCode(201)
  createSnapshot(
    @TenantCaller() caller: Caller,
    @Param(new ContractPipe(WorkloadPathSchema, 'path parameters')) { id: workloadId }: WorkloadPath,
    @Body(new ContractPipe(CreateSnapshotBodySchema, 'snapshot')) body: z.output<typeof CreateSnapshotBodySchema>,
  ): Promise<SnapshotView> {
    return this.bus.request('scheduler.cmd.workload.snapshot.create.v1', { caller, workloadId, ...body }, { timeoutMs: SNAPSHOT_TIMEOUT_MS });
  }

  @Get('v1/workloads/:id/snapshots')
  listSnapshots(@TenantCaller() caller: Caller, @Param(new ContractPipe(WorkloadPathSchema, 'path parameters')) { id: workloadId }: WorkloadPath): Promise<SnapshotList> {
    return this.bus.request('scheduler.cmd.workload.snapshot.list.v1', { caller, workloadId }, { timeoutMs: 40_000 });
  }

  @Post('v1/workloads/:id/snapshots/:name/restore')
  @HttpCode(202)
  restoreSnapshot(@TenantCaller() caller: Caller, @Param(new ContractPipe(SnapshotPathSchema, 'path parameters')) { id: workloadId, name }: SnapshotPath): Promise<WorkloadView> {
    return this.bus.request('scheduler.cmd.workload.snapshot.restore.v1', { caller, workloadId, name }, { timeoutMs: SNAPSHOT_TIMEOUT_MS });
  }

  @Post('v1/workloads/:id/snapshots/:name/template')
  @HttpCode(201)
  saveSnapshotTemplate(
    @TenantCaller() caller: Caller,
    @Param(new ContractPipe(SnapshotPathSchema, 'path parameters')) { id: workloadId, name }: SnapshotPath,
    @Body(new ContractPipe(SaveSnapshotTemplateBodySchema, 'template')) body: z.output<typeof SaveSnapshotTemplateBodySchema>,
  ): Promise<SavedVmTemplate> {
    return this.bus.request('scheduler.cmd.workload.snapshot.template.v1', { caller, workloadId, name, ...body }, { timeoutMs: SAVE_TEMPLATE_TIMEOUT_MS });
  }

  @Delete('v1/workloads/:id/snapshots/:name')
  @HttpCode(204)
  async deleteSnapshot(@TenantCaller() caller: Caller, @Param(new ContractPipe(SnapshotPathSchema, 'path parameters')) { id: workloadId, name }: SnapshotPath): Promise<void> {
    await this.bus.request('scheduler.cmd.workload.snapshot.delete.v1', { caller, workloadId, name }, { timeoutMs: SNAPSHOT_TIMEOUT_MS });
  }

  @Post('v1/admin/workloads/:id/migrate')
  @HttpCode(200)
  migrate(
    @OperatorCallerParam() caller: OperatorCaller,
    @Param(new ContractPipe(WorkloadPathSchema, 'path parameters')) { id: workloadId }: WorkloadPath,
    @Body(new ContractPipe(MigrateWorkloadBodySchema, 'migration')) body: z.output<typeof MigrateWorkloadBodySchema>,
  ): Promise<MigrationView> {
    return this.bus.request(
      'scheduler.cmd.workload.migrate.v1',
      { caller, workloadId, mode: body.mode, ...(body.targetHostId ? { targetHostId: body.targetHostId } : {}) },
      { timeoutMs: MIGRATE_TIMEOUT_MS },
    );
  }

  private async hostOf(caller: Caller, workloadId: string): Promise<string> {
    const view = await this.bus.request('scheduler.cmd.workload.get.v1', { caller, workloadId });
    if (view.kind !== 'vm') throw new GureumError(ErrorCode.InvalidState, `workload ${workloadId} is a container; only VMs have a console here`, { workloadId });
    if (!view.hostId) throw new GureumError(ErrorCode.InvalidState, `workload ${workloadId} is ${view.state} and on no host yet`, { workloadId, state: view.state });
    return view.hostId;
  }

  private readChunk(hostId: string, workloadId: string, offset: number): Promise<VmConsoleChunk> {
    return this.bus.request('agent.*.cmd.vm.console.v1', { workloadId, offset, maxBytes: 65_536 }, { nodeId: hostId, timeoutMs: 10_000 });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
