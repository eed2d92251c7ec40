import { Controller } from '@nestjs/common';
import { Commands, type ReplyOf, type ValidRequestOf } from '@gureum/contracts';
import { CommandPayload, OnCommand } from '@gureum/messaging';
import { MigrateWorkloadUseCase } from './migrate-workload.usecase';
import { SaveSnapshotTemplateUseCase } from './save-snapshot-template.usecase';
import { VmOperationsUseCase } from './vm-operations.usecase';

const PAUSE = Commands.workloadPause.subject;
const RESUME = Commands.workloadResume.subject;
const SNAP_CREATE = Commands.workloadSnapshotCreate.subject;
const SNAP_LIST = Commands.workloadSnapshotList.subject;
const SNAP_RESTORE = Commands.workloadSnapshotRestore.subject;
const SNAP_DELETE = Commands.workloadSnapshotDelete.subject;
const MIGRATE = Commands.workloadMigrate.subject;
const SNAP_TEMPLATE = Commands.workloadSnapshotTemplate.subject;

/** VM commands from the api (tenant ones carry the caller; migrate is operator-only). */
@Controller()
export class VmController {
  constructor(
    private readonly operations: VmOperationsUseCase,
    private readonly migrateWorkload: MigrateWorkloadUseCase,
    private readonly saveTemplate: SaveSnapshotTemplateUseCase,
  ) {}

  @OnCommand(SNAP_TEMPLATE)
  saveSnapshotTemplate(@CommandPayload(SNAP_TEMPLATE) request: ValidRequestOf<typeof SNAP_TEMPLATE>): Promise<ReplyOf<typeof SNAP_TEMPLATE>> {
    return this.saveTemplate.execute(request);
  }

  @OnCommand(PAUSE)
  pause(@CommandPayload(PAUSE) request: ValidRequestOf<typeof PAUSE>): Promise<ReplyOf<typeof PAUSE>> {
    return this.operations.pause(request);
  }

  @OnCommand(RESUME)
  resume(@CommandPayload(RESUME) request: ValidRequestOf<typeof RESUME>): Promise<ReplyOf<typeof RESUME>> {
    return this.operations.resume(request);
  }

  @OnCommand(SNAP_CREATE)
  createSnapshot(@CommandPayload(SNAP_CREATE) request: ValidRequestOf<typeof SNAP_CREATE>): Promise<ReplyOf<typeof SNAP_CREATE>> {
    return this.operations.createSnapshot(request);
  }

  @OnCommand(SNAP_LIST)
  listSnapshots(@CommandPayload(SNAP_LIST) request: ValidRequestOf<typeof SNAP_LIST>): Promise<ReplyOf<typeof SNAP_LIST>> {
    return this.operations.listSnapshots(request);
  }

  @OnCommand(SNAP_RESTORE)
  restoreSnapshot(@CommandPayload(SNAP_RESTORE) request: ValidRequestOf<typeof SNAP_RESTORE>): Promise<ReplyOf<typeof SNAP_RESTORE>> {
    return this.operations.restoreSnapshot(request);
  }

  @OnCommand(SNAP_DELETE)
  deleteSnapshot(@CommandPayload(SNAP_DELETE) request: ValidRequestOf<typeof SNAP_DELETE>): Promise<ReplyOf<typeof SNAP_DELETE>> {
    return this.operations.deleteSnapshot(request);
  }

  @OnCommand(MIGRATE)
  migrate(@CommandPayload(MIGRATE) request: ValidRequestOf<typeof MIGRATE>): Promise<ReplyOf<typeof MIGRATE>> {
    return this.migrateWorkload.execute(request);
  }
}
