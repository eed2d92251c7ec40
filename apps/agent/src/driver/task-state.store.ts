/**
 * Node-local memory of which generation each task handle last started for.
 *
 * Docker labels cannot change after create, so `io.gureum.generation` only tells the
 * generation a container was created for. Restarting the same container for a newer
 * generation (same handle, same logs) is recorded here instead, and the driver reads
 * `store ?? label`. The agent keeps the store in a JSON file under its state dir, so the
 * answer survives an agent restart; losing the file only makes tasks look one start older,
 * which the control plane answers with another start.
 *
 * `get` is synchronous because implementations hold everything in memory; only changes wait
 * for persistence. The reconciler's `AppliedGenerations` has the same shape, so one store
 * can serve both.
 */
export interface TaskStateStore {
  get(handleId: string): number | undefined;
  set(handleId: string, generation: number): Promise<void>;
  delete(handleId: string): Promise<void>;
}

export class InMemoryTaskStateStore implements TaskStateStore {
  private readonly generations = new Map<string, number>();

  get(handleId: string): number | undefined {
    return this.generations.get(handleId);
  }

  async set(handleId: string, generation: number): Promise<void> {
    this.generations.set(handleId, generation);
  }

  async delete(handleId: string): Promise<void> {
    this.generations.delete(handleId);
  }
}
