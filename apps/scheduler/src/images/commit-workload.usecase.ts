import { Inject, Injectable } from '@nestjs/common';
import { Commands, ErrorCode, GureumError, type CommittedImage, type ValidRequestOf } from '@gureum/contracts';
import { Bus } from '@gureum/messaging';
import type { Logger } from '@gureum/runtime';
import { DataSource } from 'typeorm';
import { assertMayModify } from '../common/caller-access';
import { LOGGER } from '../common/tokens';
import { workloadNotFound } from '../workloads/workload.exception';
import { WorkloadEntity } from '../workloads/workload.entity';
import { RegistryTokens } from './registry-tokens';

export type CommitWorkloadCommand = ValidRequestOf<'scheduler.cmd.workload.commit.v1'>;

/** States in which the workload's container exists on its host. */
const HAS_CONTAINER = new Set(['running', 'paused', 'stopped']);

/** A commit and push of a container of a few hundred MiB takes a while; the api waits as long. */
export const COMMIT_TIMEOUT_MS = 300_000;

/**
 * Saves a workload's container as an image in the tenant's repository: the scheduler knows the
 * host, asks the registry for a push token for that one repository (refused outside the
 * tenant's namespace), and has the host's agent commit and push.
 */
@Injectable()
export class CommitWorkloadUseCase {
  constructor(
    private readonly dataSource: DataSource,
    private readonly bus: Bus,
    private readonly registryTokens: RegistryTokens,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async execute({ caller, workloadId, repository, tag }: CommitWorkloadCommand): Promise<CommittedImage> {
    assertMayModify(caller);
    const workload = await this.dataSource.manager.findOneBy(WorkloadEntity, { id: workloadId, tenantId: caller.tenantId });
    if (!workload || workload.state === 'deleted') throw workloadNotFound(workloadId);
    this.registryTokens.requireAddress();
    if (!HAS_CONTAINER.has(workload.state) || workload.hostId === null) {
      throw new GureumError(ErrorCode.InvalidState, `workload ${workloadId} is ${workload.state}: only a running, paused or stopped container can be committed`, {
        state: workload.state,
      });
    }
    const pushAuth = await this.registryTokens.pushAuth(caller.tenantId, repository);
    const image = `${pushAuth.registry}/${repository}:${tag}`;
    const committed = await this.bus.request(
      Commands.agentCommit.subject,
      { workloadId, tenantId: caller.tenantId, image, pushAuth },
      { nodeId: workload.hostId, timeoutMs: COMMIT_TIMEOUT_MS },
    );
    this.logger.info({ tenantId: caller.tenantId, workloadId, hostId: workload.hostId, image, digest: committed.digest, requestId: caller.requestId }, 'workload committed');
    return committed;
  }
}
