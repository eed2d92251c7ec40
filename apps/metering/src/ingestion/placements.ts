/**
 * Metering's placement history, rebuilt from the lifecycle facts it already stores (the
 * scheduler's `evt.workload.state.v1`, which carries the workload's host at each change), and
 * the check a usage sample must pass: an agent may only bill a workload that was placed on its
 * own node at the sample's time, for the workload's own tenant. The node is the one in the
 * subject, which NATS permissions confine to that node's user; nothing in the payload counts.
 */

/** A lifecycle fact as the placement check needs it, in stream order (`at`, then stream sequence). */
export interface PlacementFact {
  tenantId: string;
  hostId: string | null;
  to: string;
  at: number;
}

export interface Placement {
  hostId: string;
  /** Epoch ms. */
  from: number;
  /** Epoch ms; null while still placed there. */
  to: number | null;
}

/**
 * States after which a workload has no task on its host any more, whatever `hostId` the event
 * still carries: a placement ends there. (`pending` carries no host; `unknown` keeps its
 * placement: the host is only silent.)
 */
const PLACEMENT_ENDS: ReadonlySet<string> = new Set(['stopped', 'failed', 'lost', 'deleted', 'pending']);

/** The hosts a workload was placed on, and when, from its facts in stream order. */
export function placements(facts: readonly PlacementFact[]): Placement[] {
  const out: Placement[] = [];
  let open: Placement | null = null;
  for (const fact of facts) {
    const host = PLACEMENT_ENDS.has(fact.to) ? null : fact.hostId;
    if (open && open.hostId !== host) {
      open.to = fact.at;
      open = null;
    }
    if (host !== null && !open) {
      open = { hostId: host, from: fact.at, to: null };
      out.push(open);
    }
  }
  return out;
}

export type PlacementVerdict =
  | { kind: 'accept' }
  /** Not decidable yet: the facts that would place it may still be on their way. */
  | { kind: 'hold'; reason: 'unknown_workload' | 'not_placed_yet' }
  | { kind: 'reject'; reason: 'tenant_mismatch' | 'not_placed_on_node' };

export interface PlacementCheckOptions {
  /**
   * Tolerance at both ends of a placement, ms: the agent's clock against the scheduler's, the
   * last readings of a task being stopped or moved, the first of a migrated VM on its target.
   */
  slackMs: number;
}

/**
 * Whether a sample from `nodeId` at `at` for `tenantId` is billed. `facts`: the workload's, in
 * stream order (empty: metering has seen nothing of it). A sample no known placement covers
 * is held while a later fact could still cover it (the workload's latest known fact is older
 * than the sample), and rejected once the history around its time is known.
 */
export function checkPlacement(facts: readonly PlacementFact[], nodeId: string, tenantId: string, at: number, options: PlacementCheckOptions): PlacementVerdict {
  const first = facts[0];
  if (!first) return { kind: 'hold', reason: 'unknown_workload' };
  if (first.tenantId !== tenantId) return { kind: 'reject', reason: 'tenant_mismatch' };
  for (const placement of placements(facts)) {
    if (placement.hostId !== nodeId) continue;
    if (at >= placement.from - options.slackMs && (placement.to === null || at <= placement.to + options.slackMs)) return { kind: 'accept' };
  }
  const latest = (facts[facts.length - 1] as PlacementFact).at;
  if (latest <= at + options.slackMs) return { kind: 'hold', reason: 'not_placed_yet' };
  return { kind: 'reject', reason: 'not_placed_on_node' };
}
