import type { HostTuple } from '../host-index';
import type { HostSnapshot } from '../placement';

/** A host as the index's reads return it (copies: the index may keep what it is given), for fakes of the hosts table. */
export function hostTupleOf(host: HostSnapshot, followed: readonly string[]): HostTuple {
  return [
    host.id,
    host.state,
    [...host.drivers],
    { ...host.labels },
    host.capacity.cpuMillis,
    host.capacity.memoryMiB,
    host.capacity.pids,
    host.allocated.cpuMillis,
    host.allocated.memoryMiB,
    host.allocated.pids,
    followed.filter((image) => host.images.includes(image)),
  ];
}
