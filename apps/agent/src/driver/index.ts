export {
  DriverError,
  type DriverErrorCode,
  type DriverFingerprint,
  type DriverName,
  type TaskResources,
  type TaskSpec,
  type TaskState,
  type TaskStats,
  type TaskStatus,
  type WorkloadDriver,
} from './driver';
export { InMemoryTaskStateStore, type TaskStateStore } from './task-state.store';
export { FileTaskStateStore } from './file-task-state.store';
export { createDockerDriver, type CreateDockerDriverOptions } from './docker/create-docker-driver';
export type { CgroupReader, DockerDriver, DockerDriverOptions } from './docker/docker.driver';
