import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from '@gureum/runtime';
import { Bus, OutboxRelay } from '@gureum/messaging';
import { PlacementKicker } from '../placement/placement-kicker';
import { LOGGER } from './tokens';

export interface CommittedChanges {
  /** Nodes whose assignments changed: nudged to reconcile now instead of at their next poll. */
  nodesToNudge?: Iterable<string>;
  /** Why, for the agent's log. */
  nudgeReason?: string;
  /** A claim was released or a host appeared: pending workloads may fit now. */
  capacityFreed?: boolean;
}

/**
 * What happens once a transaction has committed, never before: events leave through the
 * outbox relay, agents get a nudge, the placement loop gets a kick. All of it is
 * best-effort by design — the relay polls, agents poll their assignments, placement retries
 * every second — so a lost nudge only costs latency.
 */
@Injectable()
export class AfterCommit {
  constructor(
    private readonly relay: OutboxRelay,
    private readonly bus: Bus,
    private readonly placement: PlacementKicker,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  run(changes: CommittedChanges): void {
    this.relay.kick();
    for (const nodeId of new Set(changes.nodesToNudge ?? [])) {
      try {
        this.bus.signal('agent.*.cmd.reconcile.v1', { nodeId, reason: changes.nudgeReason ?? 'assignments changed' }, { nodeId });
      } catch (error) {
        this.logger.warn({ err: error, nodeId }, 'could not nudge agent; it will see the change at its next poll');
      }
    }
    if (changes.capacityFreed) this.placement.kick();
  }
}
