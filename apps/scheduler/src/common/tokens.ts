import type { QuotaAmounts } from '@gureum/contracts';
import type { PlacementSettings } from '../placement/placement';

/** Injection tokens for values that are interfaces (no class to inject by). */
export const LOGGER = Symbol('scheduler.logger');
export const SCHEDULER_SETTINGS = Symbol('scheduler.settings');

/** Timing knobs of the background loops, placement and quota defaults, from the service configuration. */
export interface SchedulerSettings {
  placement: PlacementSettings;
  defaultQuotas: QuotaAmounts;
  heartbeatIntervalMs: number;
  hostLostAfterMissed: number;
  /** How long a silent host is `unreachable` (workloads kept, `unknown`) before it is `lost` (ms). */
  disconnectGraceMs: number;
  placementRetryIntervalMs: number;
  placementBatchSize: number;
  /** A migration claim older than this is from a crashed scheduler and is recovered (default 15 min). */
  migrationRecoveryAfterMs?: number;
  /** How old this replica's picture of the fleet may get before a create re-reads it (0: rank in SQL every time). */
  hostIndexRefreshMs?: number;
  /** How long after a create batch ends the next one may wait to gather more creates (ms; default 8, 0: none). */
  createBatchGatherMs?: number;
  /** Where nats-server's authorization lives; enrolment is off without it (see hosts/enrolment). */
  natsAuth?: { baseFile: string; authFile: string; pidFile: string; monitorUrl?: string };
}
