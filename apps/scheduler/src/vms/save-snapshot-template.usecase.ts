import { Inject, Injectable } from '@nestjs/common';
import { Commands, type SavedVmTemplate, type ValidRequestOf } from '@gureum/contracts';
import { Bus } from '@gureum/messaging';
import type { Logger } from '@gureum/runtime';
import { DataSource } from 'typeorm';
import { assertMayModify } from '../common/caller-access';
import { LOGGER } from '../common/tokens';
import { inTransaction } from '../database/sql';
import { RegistryTokens } from '../images/registry-tokens';
import { workloadInWrongState } from '../workloads/workload.exception';
import { lockVm } from './vm-operations.usecase';

export type SaveSnapshotTemplateCommand = ValidRequestOf<'scheduler.cmd.workload.snapshot.template.v1'>;

/** Exporting a disk and pushing kernel + initrd + disk under TCG on a busy host takes a while; the api waits a little longer. */
export const SAVE_TEMPLATE_TIMEOUT_MS = 300_000;

/** The VM's overlay (where its internal snapshots live) is on its host in these states. */
const HAS_DISK = new Set(['running', 'paused', 'stopped']);

/**
 * Saves a VM's snapshot as a VM template in the tenant's registry repository. The scheduler
 * knows the host, gets a push token for that one repository (the registry refuses any
 * namespace but the tenant's own: 403) and has the VM's agent export and push. The
 * workload's row stays locked meanwhile, so a migration or drain cannot move the disk away
 * during the copy (they wait, or skip it this pass); its state is not changed.
 */
@Injectable()
export class SaveSnapshotTemplateUseCase {
  constructor(
    private readonly dataSource: DataSource,
    private readonly bus: Bus,
    private readonly registryTokens: RegistryTokens,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async execute({ caller, workloadId, name, repository, tag }: SaveSnapshotTemplateCommand): Promise<SavedVmTemplate> {
    assertMayModify(caller);
    return inTransaction(this.dataSource, async (manager) => {
      const current = await lockVm(manager, caller, workloadId, 'save a template from');
      if (!HAS_DISK.has(current.state)) throw workloadInWrongState(workloadId, 'save a template from', current.state);
      const pushAuth = await this.registryTokens.pushAuth(caller.tenantId, repository);
      const image = `${pushAuth.registry}/${repository}:${tag}`;
      // The VM's own template, when it came from the registry, is resolved again for its kernel and initrd.
      const templatePullAuth = await this.registryTokens.pullAuth(caller.tenantId, current.image);
      const saved = await this.bus.request(
        Commands.agentVmTemplate.subject,
        { workloadId, snapshot: name, image, pushAuth, ...(templatePullAuth ? { templatePullAuth } : {}) },
        { nodeId: current.hostId ?? '', timeoutMs: SAVE_TEMPLATE_TIMEOUT_MS },
      );
      this.logger.info({ tenantId: caller.tenantId, workloadId, snapshot: name, hostId: current.hostId, image, digest: saved.digest, requestId: caller.requestId }, 'vm snapshot saved as a template');
      return saved;
    });
  }
}
