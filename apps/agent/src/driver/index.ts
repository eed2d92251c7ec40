export {
  DriverError,
  type CommitSpec,
  type CommittableDriver,
  type DriverErrorCode,
  type DriverFingerprint,
  type DriverName,
  type LogCursorPosition,
  type LoggingDriver,
  type LogsSpec,
  type TaskLogs,
  type MigratableDriver,
  type MigrationResult,
  type MigrationTarget,
  type PausableDriver,
  type SnapshotDriver,
  type SnapshotInfo,
  type TaskResources,
  type TaskSpec,
  type TaskState,
  type TaskStats,
  type TaskStatus,
  type VmTaskSpec,
  type WorkloadDriver,
} from './driver';
export { InMemoryTaskStateStore, type TaskStateStore } from './task-state.store';
export { FileTaskStateStore } from './file-task-state.store';
export { InMemoryTaskOwnershipStore, type OwnedTask, type TaskOwnershipStore } from './task-ownership.store';
export { FileTaskOwnershipStore } from './file-task-ownership.store';
export { createDockerDriver, type CreateDockerDriverOptions } from './docker/create-docker-driver';
export type { CgroupReader, DockerDriver, DockerDriverOptions, DriverLog } from './docker/docker.driver';
export { createVmDriver, type CreateVmDriverOptions } from './vm/create-vm-driver';
export { VmDriver, type VmDriverOptions } from './vm/vm.driver';
export type { AcceleratorSetting } from './vm/vm-launch';
export { LocalDirTemplateSource, type TemplateSource } from './vm/template-source';
