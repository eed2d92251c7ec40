import { CgroupError } from './cgroup.exception';

const SEGMENT = /^[a-z0-9_-][a-z0-9._-]*$/;
const MAX_SEGMENT_LENGTH = 64;

/**
 * Splits a logical group name into its directory segments, rejecting anything that could
 * leave the parent group (`..`, absolute paths) or nest deeper than `a/b`.
 */
export function parseCgroupName(name: string): string[] {
  const segments = name.split('/');
  const valid =
    segments.length <= 2 &&
    !name.includes('..') &&
    segments.every((segment) => segment.length <= MAX_SEGMENT_LENGTH && SEGMENT.test(segment));
  if (!valid) {
    throw new CgroupError(
      'invalid_name',
      `invalid cgroup name ${JSON.stringify(name)}: use [a-z0-9._-] segments of at most ${MAX_SEGMENT_LENGTH} characters, at most one "/", no ".." and no leading "."`,
    );
  }
  return segments;
}
