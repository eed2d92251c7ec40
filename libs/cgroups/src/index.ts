export { CgroupError, type CgroupErrorCode } from './cgroup.exception';
export type { CgroupFiles } from './cgroup-files';
export type { CgroupHostPaths, CgroupLimits, CgroupManager, CgroupSnapshot, CgroupVersion, CpuThreadSplit } from './cgroup.types';
export { supportsCpuThreadSplit } from './cgroup.types';
export { createCgroupManager, type CgroupManagerOptions } from './create-cgroup-manager';
export {
  activateV1BlockAccounting,
  createBlockIoReader,
  parseBlkioServiceBytes,
  parseIoStat,
  type BlockAccountingOptions,
  type BlockIoCounters,
  type BlockIoReader,
} from './block-io';
