import { readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { activateV1BlockAccounting, createBlockIoReader, type BlockIoReader } from '@gureum/cgroups';
import type { Logger } from 'pino';

/** A task's cumulative I/O counters; null where the agent cannot attribute them to the task alone. */
export interface IoCounters {
  networkRxBytes: bigint | null;
  networkTxBytes: bigint | null;
  blockReadBytes: bigint | null;
  blockWriteBytes: bigint | null;
}

export const NO_IO_COUNTERS: IoCounters = { networkRxBytes: null, networkTxBytes: null, blockReadBytes: null, blockWriteBytes: null };

/** Reads a task's I/O counters from the host, by the host pid of its first process. */
export interface IoCounterSource {
  read(pid: number): Promise<IoCounters>;
}

/** The two /proc operations network reading needs; unit tests substitute files on a temp directory. */
export interface ProcFiles {
  read(path: string): Promise<string>;
  readlink(path: string): Promise<string>;
}

export const nodeProcFiles: ProcFiles = { read: (path) => readFile(path, 'utf8'), readlink: (path) => readlink(path) };

/**
 * `/proc/<pid>/net/dev` lists the interfaces of the process's network namespace with
 * cumulative receive and transmit bytes (first and ninth number after the colon). Loopback
 * is traffic a task has with itself, so it is left out.
 */
export function parseNetDev(text: string): { rxBytes: bigint; txBytes: bigint } {
  let rxBytes = 0n;
  let txBytes = 0n;
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    if (name === '' || name === 'lo' || name.includes('|')) continue;
    const fields = line.slice(colon + 1).trim().split(/\s+/);
    const rx = fields[0];
    const tx = fields[8];
    if (rx === undefined || tx === undefined || !/^\d+$/.test(rx) || !/^\d+$/.test(tx)) throw new Error(`unexpected line in net/dev: ${JSON.stringify(line)}`);
    rxBytes += BigInt(rx);
    txBytes += BigInt(tx);
  }
  return { rxBytes, txBytes };
}

export interface HostIoCounterSourceOptions {
  procRoot?: string;
  files?: ProcFiles;
  /** Block-I/O from the task's cgroup; without one, block counters are null. */
  blockIo: BlockIoReader | null;
}

/**
 * Network bytes from the task's own network namespace, block bytes from its cgroup. Both are
 * counters that restart from zero with a new container (new namespace, new group); metering
 * handles that like the CPU counter. A task in the host's network namespace (a VM with user
 * networking, a `--network host` container) gets null network counters: the host's
 * interfaces are not the task's.
 */
export class HostIoCounterSource implements IoCounterSource {
  private readonly procRoot: string;
  private readonly files: ProcFiles;

  constructor(private readonly options: HostIoCounterSourceOptions) {
    this.procRoot = options.procRoot ?? '/proc';
    this.files = options.files ?? nodeProcFiles;
  }

  async read(pid: number): Promise<IoCounters> {
    const [network, block] = await Promise.all([this.network(pid), this.options.blockIo ? this.options.blockIo.readForPid(pid) : null]);
    return {
      networkRxBytes: network?.rxBytes ?? null,
      networkTxBytes: network?.txBytes ?? null,
      blockReadBytes: block?.readBytes ?? null,
      blockWriteBytes: block?.writeBytes ?? null,
    };
  }

  private async network(pid: number): Promise<{ rxBytes: bigint; txBytes: bigint } | null> {
    const [own, theirs] = await Promise.all([this.files.readlink(join(this.procRoot, 'self', 'ns', 'net')), this.files.readlink(join(this.procRoot, String(pid), 'ns', 'net'))]);
    if (own === theirs) return null;
    return parseNetDev(await this.files.read(join(this.procRoot, String(pid), 'net', 'dev')));
  }
}

/**
 * The host's source. Block counters are left out (null) where no block-I/O hierarchy is
 * mounted; on cgroup v1 the kernel's per-group block accounting is switched on first (see
 * `activateV1BlockAccounting`), or those counters would stay at zero on recent kernels.
 */
export async function createHostIoCounterSource(logger: Logger): Promise<HostIoCounterSource> {
  const blockIo = await createBlockIoReader().catch((error: unknown) => {
    logger.warn({ err: error }, 'no block-I/O counters on this host: block bytes are not metered');
    return null;
  });
  if (blockIo) {
    await activateV1BlockAccounting().then(
      (devices) => devices.length > 0 && logger.info({ devices }, 'cgroup v1 block-I/O accounting active'),
      (error: unknown) => logger.warn({ err: error }, 'could not activate cgroup v1 block-I/O accounting: block bytes may read zero'),
    );
  }
  return new HostIoCounterSource({ blockIo });
}
