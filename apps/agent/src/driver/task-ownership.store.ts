/**
 * Node-local record of the tasks this agent created: the only thing that makes a container
 * the agent's. Labels cannot (a tenant writes `io.gureum.*` into an image, and every
 * container made from it — a build step, a `docker run` — inherits them).
 *
 * A create is recorded in two steps: `intend` (by the container name the agent chose, before
 * the engine call) and `record` (by the id the engine returned). A crash between the two
 * leaves a pending name, and the container with exactly that name is adopted on the next
 * look. Images cannot choose container names, so a pending name is not forgeable either.
 *
 * `legacy` is true while the record is new (an agent from before ownership records created
 * the node's containers): until `finishMigration`, the driver adopts a container whose name
 * is the one it would have chosen for the workload its labels name, and records it. After
 * the first full recovery, only the record counts.
 */
export interface OwnedTask {
  workloadId: string;
  tenantId: string;
  /** The container name (docker) the agent chose. */
  name: string;
}

export interface TaskOwnershipStore {
  readonly legacy: boolean;
  owner(handleId: string): OwnedTask | undefined;
  /** Every recorded handle. */
  handles(): string[];
  pending(name: string): OwnedTask | undefined;
  intend(task: OwnedTask): Promise<void>;
  /** Drops a pending name whose create failed. */
  abandon(name: string): Promise<void>;
  record(handleId: string, task: OwnedTask): Promise<void>;
  forget(handleId: string): Promise<void>;
  finishMigration(): Promise<void>;
}

export class InMemoryTaskOwnershipStore implements TaskOwnershipStore {
  protected readonly owned = new Map<string, OwnedTask>();
  protected readonly intended = new Map<string, OwnedTask>();

  constructor(public legacy = false) {}

  owner(handleId: string): OwnedTask | undefined {
    return this.owned.get(handleId);
  }

  handles(): string[] {
    return [...this.owned.keys()];
  }

  pending(name: string): OwnedTask | undefined {
    return this.intended.get(name);
  }

  async intend(task: OwnedTask): Promise<void> {
    this.intended.set(task.name, { ...task });
    await this.changed();
  }

  async abandon(name: string): Promise<void> {
    if (this.intended.delete(name)) await this.changed();
  }

  async record(handleId: string, task: OwnedTask): Promise<void> {
    this.owned.set(handleId, { ...task });
    this.intended.delete(task.name);
    await this.changed();
  }

  async forget(handleId: string): Promise<void> {
    if (this.owned.delete(handleId)) await this.changed();
  }

  async finishMigration(): Promise<void> {
    if (!this.legacy) return;
    this.legacy = false;
    await this.changed();
  }

  /** Persistence hook for subclasses. */
  protected async changed(): Promise<void> {}
}
