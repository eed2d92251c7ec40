import { Commands, ErrorCode, GureumError, type Caller } from '@gureum/contracts';
import type { Bus } from '@gureum/messaging';
import type { Logger } from 'pino';

/** `enforce`: every workload create asks billing first and fails closed; `off`: no billing check (billing not deployed). */
export type BillingAdmissionMode = 'enforce' | 'off';

/**
 * The hard budget limit, checked before a workload create is forwarded to the scheduler. A
 * user who set a hard limit expects it to hold, so when billing cannot answer the create is
 * refused with 503 (unavailable), not let through.
 */
export class WorkloadAdmission {
  constructor(
    private readonly bus: Bus,
    private readonly mode: BillingAdmissionMode,
    private readonly logger: Logger,
  ) {}

  async assertMayCreate(caller: Caller): Promise<void> {
    if (this.mode === 'off') return;
    let reply;
    try {
      reply = await this.bus.request(Commands.billingAdmissionCheck.subject, { tenantId: caller.tenantId }, { timeoutMs: 5000 });
    } catch (error) {
      this.logger.warn({ err: error, tenantId: caller.tenantId, requestId: caller.requestId }, 'billing admission check failed; refusing the create');
      throw new GureumError(ErrorCode.Unavailable, 'billing cannot confirm the budget right now; try again shortly', undefined, { cause: error });
    }
    if (!reply.allowed) throw new GureumError(ErrorCode.Forbidden, reply.reason ?? 'the tenant has reached its hard budget limit', { reason: 'budget_hard_limit' });
  }
}
