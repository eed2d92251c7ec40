export type CgroupErrorCode =
  /** The logical name breaks the naming rules. */
  | 'invalid_name'
  /** A limit is not a positive integer. */
  | 'invalid_limits'
  /** Neither a cgroup v2 mount at the filesystem root nor cgroup v1 controller mounts were found. */
  | 'unsupported_host'
  /** A controller this library needs is not mounted or not enabled for the group. */
  | 'controller_unavailable'
  /** The group or the process does not exist. */
  | 'not_found'
  /** The kernel refused because the group still has processes or child groups. */
  | 'busy'
  /** Any other read/write failure on a cgroup file. */
  | 'io_failure';

export class CgroupError extends Error {
  constructor(
    readonly code: CgroupErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CgroupError';
  }
}
