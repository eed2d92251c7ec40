import { Controller } from '@nestjs/common';
import type { GcReport, ImageList, RepositoryVisibility, StorageUsage, ValidRequestOf } from '@gureum/contracts';
import { CommandPayload, OnCommand } from '@gureum/messaging';
import { CollectGarbage } from './gc/collect-garbage.usecase';
import { SetStorageQuota } from './quota/set-storage-quota.usecase';
import { ListImages } from './repositories/list-images.usecase';
import { SetRepositoryVisibility } from './repositories/set-repository-visibility.usecase';

/** The registry's commands on the bus (operator tooling, through the api). */
@Controller()
export class RegistryController {
  constructor(
    private readonly collectGarbage: CollectGarbage,
    private readonly setStorageQuota: SetStorageQuota,
    private readonly setRepositoryVisibility: SetRepositoryVisibility,
    private readonly listImages: ListImages,
  ) {}

  @OnCommand('registry.cmd.images.list.v1')
  images(@CommandPayload('registry.cmd.images.list.v1') request: ValidRequestOf<'registry.cmd.images.list.v1'>): Promise<ImageList> {
    return this.listImages.execute(request);
  }

  @OnCommand('registry.cmd.gc.run.v1')
  runGc(@CommandPayload('registry.cmd.gc.run.v1') request: ValidRequestOf<'registry.cmd.gc.run.v1'>): Promise<GcReport> {
    return this.collectGarbage.execute(request.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: request.gracePeriodSeconds } : {});
  }

  @OnCommand('registry.cmd.quota.set.v1')
  setQuota(@CommandPayload('registry.cmd.quota.set.v1') request: ValidRequestOf<'registry.cmd.quota.set.v1'>): Promise<StorageUsage> {
    return this.setStorageQuota.execute(request);
  }

  @OnCommand('registry.cmd.repository.visibility.v1')
  setVisibility(
    @CommandPayload('registry.cmd.repository.visibility.v1') request: ValidRequestOf<'registry.cmd.repository.visibility.v1'>,
  ): Promise<RepositoryVisibility> {
    return this.setRepositoryVisibility.execute(request);
  }
}
