import { Module, type DynamicModule } from '@nestjs/common';
import { IssueServiceToken, ServiceTokenController } from './auth/service-token';
import { CollectGarbage } from './gc/collect-garbage.usecase';
import { SetStorageQuota } from './quota/set-storage-quota.usecase';
import { RegistryController } from './registry.controller';
import { ListImages } from './repositories/list-images.usecase';
import { SetRepositoryVisibility } from './repositories/set-repository-visibility.usecase';

/** The NATS side of the registry; the use cases are built by the bootstrap and shared with HTTP. */
@Module({})
export class RegistryModule {
  static register(useCases: {
    collectGarbage: CollectGarbage;
    setStorageQuota: SetStorageQuota;
    setRepositoryVisibility: SetRepositoryVisibility;
    listImages: ListImages;
    issueServiceToken: IssueServiceToken;
  }): DynamicModule {
    return {
      module: RegistryModule,
      controllers: [RegistryController, ServiceTokenController],
      providers: [
        { provide: CollectGarbage, useValue: useCases.collectGarbage },
        { provide: SetStorageQuota, useValue: useCases.setStorageQuota },
        { provide: SetRepositoryVisibility, useValue: useCases.setRepositoryVisibility },
        { provide: ListImages, useValue: useCases.listImages },
        { provide: IssueServiceToken, useValue: useCases.issueServiceToken },
      ],
    };
  }
}
