/** Where fencing says what it did (pino's Logger fits). */
export interface FenceLog {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface FenceOptions {
  /** GUREUM_AGENT_FENCE_AFTER_MS: silence from the control plane after which the node fences. */
  afterMs: number;
  now: () => number;
  logger: FenceLog;
  /** Stops this node's restartable workloads; resolves to how many it stopped. */
  onFence: () => Promise<number>;
}

/**
 * The node's half of "disconnected is not dead" (Nomad's `stop_after_client_disconnect`):
 * after `afterMs` without a successful exchange with the control plane — which by then may
 * have re-placed this node's restartable workloads elsewhere — the agent stops them itself, so
 * no workload runs twice. Once, logged once; a later exchange lifts it and the agent reports
 * what it finds. It never restarts anything on its own: the control plane decides.
 */
export class Fence {
  private lastContactAt: number;
  private fencedAt: number | null = null;
  private fencing: Promise<void> | null = null;

  constructor(private readonly options: FenceOptions) {
    this.lastContactAt = options.now();
  }

  get fenced(): boolean {
    return this.fencedAt !== null;
  }

  /** How long since the last successful exchange (a frozen or cut-off agent sees a long one). */
  silentMs(): number {
    return this.options.now() - this.lastContactAt;
  }

  /** A heartbeat acknowledged, assignments fetched or a report accepted. */
  contact(): void {
    const now = this.options.now();
    if (this.fencedAt !== null) {
      this.options.logger.info({ fencedForMs: now - this.fencedAt }, 'control plane reachable again after fencing: reporting what runs, the control plane decides');
      this.fencedAt = null;
    }
    this.lastContactAt = now;
  }

  /** Called on a timer; fences once when the silence has lasted `afterMs`. */
  check(): Promise<void> {
    if (this.fencing) return this.fencing;
    const now = this.options.now();
    const silentMs = now - this.lastContactAt;
    if (this.fencedAt !== null || silentMs < this.options.afterMs) return Promise.resolve();
    this.fencedAt = now;
    this.fencing = (async () => {
      try {
        const stopped = await this.options.onFence();
        this.options.logger.warn({ silentMs, fenceAfterMs: this.options.afterMs, stopped }, 'fenced: no exchange with the control plane, stopped this node\'s restartable workloads');
      } catch (error) {
        this.options.logger.error({ err: error, silentMs }, 'fencing failed');
      }
    })().finally(() => {
      this.fencing = null;
    });
    return this.fencing;
  }
}
