import { open, stat } from 'node:fs/promises';
import net from 'node:net';
import { ErrorCode, GureumError, type ReplyOf, type ValidRequestOf } from '@gureum/contracts';
import type { Bus } from '@gureum/messaging';
import type { Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { DriverError } from '../driver';
import type { VmDriver } from '../driver/vm/vm.driver';
import { taskSpecOf } from '../reconcile/reconciler';
import { saveVmTemplate } from './save-vm-template';

export interface VmCommandServerOptions {
  nodeId: string;
  /** Address the destination of a live migration listens on; other agents' QEMU connect to it. */
  migrationHost: string;
  /** Cold migration shuts the guest down first: ACPI, then force after this. */
  stopTimeoutSeconds: number;
}

/**
 * Serves the VM commands on this agent's own subjects (`agent.<nodeId>.cmd.vm.*`, which the
 * agent's NATS user may subscribe to): console reads, pause/resume, snapshots, and both ends
 * of a live migration. Driver errors become typed GureumErrors (invalid state → 409, unknown
 * snapshot → 404, ...), so the api can answer with a clear problem.
 */
export class VmCommandServer {
  /** Workloads arriving by live migration: not assigned here yet, so the reconciler must leave them. */
  private readonly incoming = new Set<string>();
  private readonly subscriptions: Subscription[] = [];

  constructor(
    private readonly options: VmCommandServerOptions,
    private readonly driver: VmDriver,
    private readonly logger: Logger,
  ) {}

  isIncoming(workloadId: string): boolean {
    return this.incoming.has(workloadId);
  }

  /** The reconciler saw the assignment arrive (migration committed): the VM is owned normally now. */
  settle(assignedWorkloadIds: Iterable<string>): void {
    for (const id of assignedWorkloadIds) this.incoming.delete(id);
  }

  listen(bus: Bus): void {
    const nodeId = this.options.nodeId;
    const onError = (error: unknown, subject: string) => this.logger.warn({ err: error, subject }, 'vm command failed');
    this.subscriptions.push(
      bus.onCommand('agent.*.cmd.vm.console.v1', (request) => this.console(request), { nodeId, onError }),
      bus.onCommand('agent.*.cmd.vm.control.v1', (request) => this.control(request), { nodeId, onError }),
      bus.onCommand('agent.*.cmd.vm.snapshot.v1', (request) => this.snapshot(request), { nodeId, onError }),
      bus.onCommand('agent.*.cmd.vm.migrate.prepare.v1', (request) => this.prepare(request), { nodeId, onError }),
      bus.onCommand('agent.*.cmd.vm.migrate.send.v1', (request) => this.send(request), { nodeId, onError }),
      bus.onCommand('agent.*.cmd.vm.migrate.abort.v1', (request) => this.abort(request), { nodeId, onError }),
      bus.onCommand('agent.*.cmd.vm.template.v1', (request) => this.template(request), { nodeId, onError }),
      bus.onCommand('agent.*.cmd.vm.status.v1', (request) => this.status(request), { nodeId, onError }),
    );
  }

  close(): void {
    for (const subscription of this.subscriptions.splice(0)) subscription.unsubscribe();
  }

  async console({ workloadId, offset, maxBytes }: ValidRequestOf<'agent.*.cmd.vm.console.v1'>): Promise<ReplyOf<'agent.*.cmd.vm.console.v1'>> {
    const handleId = workloadId.toLowerCase();
    const status = await this.driver.inspect(handleId);
    if (!status) throw new GureumError(ErrorCode.NotFound, `no VM ${workloadId} on this node`, { workloadId });
    const file = this.driver.consoleLogPath(handleId);
    const size = await stat(file).then((info) => info.size, () => 0);
    const start = Math.min(offset, size);
    const length = Math.min(maxBytes, size - start);
    let data = Buffer.alloc(0);
    if (length > 0) {
      const handle = await open(file, 'r');
      try {
        const buffer = Buffer.alloc(length);
        const { bytesRead } = await handle.read(buffer, 0, length, start);
        data = buffer.subarray(0, bytesRead);
      } finally {
        await handle.close();
      }
    }
    return { data: data.toString('base64'), offset: start, nextOffset: start + data.length, running: status.state === 'running' || status.state === 'paused' };
  }

  async control({ workloadId, action }: ValidRequestOf<'agent.*.cmd.vm.control.v1'>): Promise<ReplyOf<'agent.*.cmd.vm.control.v1'>> {
    const handleId = workloadId.toLowerCase();
    await typed(() =>
      action === 'pause' ? this.driver.pause(handleId) : action === 'resume' ? this.driver.resume(handleId) : this.driver.bootIncoming(handleId),
    );
    const status = await this.driver.inspect(handleId);
    return { state: status?.state ?? 'exited' };
  }

  async snapshot({ workloadId, op, name, withMemory }: ValidRequestOf<'agent.*.cmd.vm.snapshot.v1'>): Promise<ReplyOf<'agent.*.cmd.vm.snapshot.v1'>> {
    const handleId = workloadId.toLowerCase();
    const needName = (): string => {
      if (!name) throw new GureumError(ErrorCode.ValidationFailed, `snapshot ${op} needs a name`);
      return name;
    };
    return typed(async () => {
      if (op === 'create') await this.driver.snapshot(handleId, needName(), { withMemory: withMemory ?? true });
      else if (op === 'restore') await this.driver.restore(handleId, needName());
      else if (op === 'delete') await this.driver.deleteSnapshot(handleId, needName());
      return { items: await this.driver.listSnapshots(handleId) };
    });
  }

  async prepare({ assignment }: ValidRequestOf<'agent.*.cmd.vm.migrate.prepare.v1'>): Promise<ReplyOf<'agent.*.cmd.vm.migrate.prepare.v1'>> {
    const port = await freeTcpPort(this.options.migrationHost);
    this.incoming.add(assignment.workloadId);
    try {
      await typed(() => this.driver.prepareIncoming(taskSpecOf(assignment, this.options.nodeId), { host: this.options.migrationHost, port }));
    } catch (error) {
      this.incoming.delete(assignment.workloadId);
      throw error;
    }
    this.logger.info({ workloadId: assignment.workloadId, port }, 'waiting for incoming VM');
    return { host: this.options.migrationHost, port };
  }

  async send({ workloadId, target, mode }: ValidRequestOf<'agent.*.cmd.vm.migrate.send.v1'>): Promise<ReplyOf<'agent.*.cmd.vm.migrate.send.v1'>> {
    const handleId = workloadId.toLowerCase();
    const result = await typed(() =>
      mode === 'cold' ? this.driver.coldMigrate(handleId, target, this.options.stopTimeoutSeconds) : this.driver.migrate(handleId, target),
    );
    this.logger.info({ workloadId, target, mode, ...result }, 'vm migration ended on the source');
    return { ...result, error: result.error ?? null };
  }

  /** A snapshot's disk with the VM's kernel and initrd → a VM template in the tenant's repository. */
  async template(request: ValidRequestOf<'agent.*.cmd.vm.template.v1'>): Promise<ReplyOf<'agent.*.cmd.vm.template.v1'>> {
    const saved = await typed(() => saveVmTemplate(this.driver, request));
    this.logger.info({ workloadId: request.workloadId, snapshot: request.snapshot, image: saved.image, digest: saved.digest, diskBytes: saved.diskBytes }, 'vm snapshot saved as a template');
    return saved;
  }

  /** Whether this node has the VM, and in which state (the scheduler's migration recovery asks). */
  async status({ workloadId }: ValidRequestOf<'agent.*.cmd.vm.status.v1'>): Promise<ReplyOf<'agent.*.cmd.vm.status.v1'>> {
    const status = await this.driver.inspect(workloadId.toLowerCase());
    return { present: status !== null, state: status?.state ?? null, incoming: this.incoming.has(workloadId) };
  }

  async abort({ workloadId }: ValidRequestOf<'agent.*.cmd.vm.migrate.abort.v1'>): Promise<ReplyOf<'agent.*.cmd.vm.migrate.abort.v1'>> {
    if (this.incoming.has(workloadId)) {
      await typed(() => this.driver.destroy(workloadId.toLowerCase()));
      this.incoming.delete(workloadId);
    }
    return { ok: true };
  }
}

async function typed<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (!(error instanceof DriverError)) throw error;
    throw new GureumError(codeOf(error), error.message, { driverCode: error.code });
  }
}

function codeOf(error: DriverError): ErrorCode {
  switch (error.code) {
    case 'invalid_state':
    case 'task_not_running':
    case 'stale_generation':
      return ErrorCode.InvalidState;
    case 'snapshot_not_found':
    case 'task_not_found':
      return ErrorCode.NotFound;
    case 'invalid_spec':
      return ErrorCode.ValidationFailed;
    case 'image_not_found':
      return ErrorCode.ImageUnknown;
    case 'engine_unavailable':
      return ErrorCode.Unavailable;
    default:
      return ErrorCode.Internal;
  }
}

function freeTcpPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
