import { Body, Controller, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { Commands, CommitWorkloadBodySchema, type Caller, type CommitWorkloadBody, type CommittedImage } from '@gureum/contracts';
import { Bus, ContractPipe } from '@gureum/messaging';
import { TenantCaller } from '../auth/tenant-caller.decorator';
import { WorkloadPathSchema, type WorkloadPath } from '../workloads/workload-http.schemas';

/** The scheduler waits up to 300 s for the agent's commit and push; the api a little longer. */
const COMMIT_TIMEOUT_MS = 310_000;

/** `POST /v1/workloads/{id}/commit`: a running container's writable layer → an image in the tenant's repository. */
@Controller('v1/workloads')
export class CommitController {
  constructor(@Inject(Bus) private readonly bus: Bus) {}

  @Post(':id/commit')
  @HttpCode(201)
  async commit(
    @TenantCaller() caller: Caller,
    @Param(new ContractPipe(WorkloadPathSchema, 'path parameters')) { id: workloadId }: WorkloadPath,
    @Body(new ContractPipe(CommitWorkloadBodySchema, 'commit request')) body: CommitWorkloadBody,
  ): Promise<CommittedImage> {
    return this.bus.request(Commands.workloadCommit.subject, { caller, workloadId, repository: body.repository, tag: body.tag }, { timeoutMs: COMMIT_TIMEOUT_MS });
  }
}
