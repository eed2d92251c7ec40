import { performance } from 'node:perf_hooks';

/**
 * What this replica itself has heard, kept in memory: when each host's heartbeat last
 * arrived here, and since when this replica has been able to record heartbeats at all.
 *
 * Silence is judged on heartbeats *received*, not on the scheduler's ability to write them
 * (issue 21: PostgreSQL down for 20 s made every host "silent for 6 s" when it came back). The
 * database's `last_heartbeat_at` stays the fleet-wide record — with several replicas in one
 * NATS queue group each heartbeat reaches exactly one of them — and the sweep adds two rules:
 *
 * - a host this replica heard within the silence threshold is not silent, whatever the row says
 *   (its timestamp write may have failed);
 * - this replica judges nobody until it has been able to hear and record heartbeats for a whole
 *   silence threshold: after it started, and after each failure to reach the database. A
 *   timestamp that could not be written during an outage is written by the host's first
 *   heartbeat after it (the failed hosts take the full path), well within that time.
 *
 * Times are monotonic (`performance.now()`), so a wall-clock step cannot fake silence.
 */
export class HeartbeatReceipts {
  private readonly heardAt = new Map<string, number>();
  /** Last moment this replica could not have recorded a heartbeat: its start, or a database failure. */
  private blindAt: number;

  constructor(private readonly now: () => number = () => performance.now()) {
    this.blindAt = this.now();
  }

  /** A heartbeat from `nodeId` arrived here (before anything is written). */
  heard(nodeId: string): void {
    this.heardAt.set(nodeId, this.now());
  }

  /** The database could not be reached: what this replica heard may not have been recorded. */
  databaseFailed(): void {
    this.blindAt = this.now();
  }

  /** Hosts heard here within the last `withinMs`; older receipts are forgotten. */
  heardWithin(withinMs: number): string[] {
    const since = this.now() - withinMs;
    const heard: string[] = [];
    for (const [nodeId, at] of this.heardAt) {
      if (at >= since) heard.push(nodeId);
      else this.heardAt.delete(nodeId);
    }
    return heard;
  }

  /** How long until this replica may judge silence of `silenceMs` (0: now). */
  mayJudgeIn(silenceMs: number): number {
    return Math.max(0, this.blindAt + silenceMs - this.now());
  }
}
