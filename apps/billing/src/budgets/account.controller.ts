import { Controller, Inject } from '@nestjs/common';
import type { AdmissionCheckReply, BillingSummary, BudgetView, CostView, CreditsView, ValidRequestOf } from '@gureum/contracts';
import { CommandPayload, OnCommand } from '@gureum/messaging';
import { BillingSummaryUseCase, GetCostUseCase } from '../cost/cost.usecases';
import { GetCreditsUseCase, GrantCreditsUseCase } from '../credits/credits.usecases';
import { BudgetUseCases } from './budget.usecases';

/** A tenant's money beyond invoices: cost so far, credits, budget, admission; and the operator summary. */
@Controller()
export class AccountController {
  constructor(
    @Inject(GetCostUseCase) private readonly cost: GetCostUseCase,
    @Inject(GrantCreditsUseCase) private readonly grantCredits: GrantCreditsUseCase,
    @Inject(GetCreditsUseCase) private readonly getCredits: GetCreditsUseCase,
    @Inject(BudgetUseCases) private readonly budgets: BudgetUseCases,
    @Inject(BillingSummaryUseCase) private readonly summary: BillingSummaryUseCase,
  ) {}

  @OnCommand('billing.cmd.cost.get.v1')
  costSoFar(@CommandPayload('billing.cmd.cost.get.v1') request: ValidRequestOf<'billing.cmd.cost.get.v1'>): Promise<CostView> {
    return this.cost.execute(request.caller.tenantId);
  }

  @OnCommand('billing.cmd.credits.grant.v1')
  grant(@CommandPayload('billing.cmd.credits.grant.v1') request: ValidRequestOf<'billing.cmd.credits.grant.v1'>): Promise<CreditsView> {
    return this.grantCredits.execute(request.tenantId, request.amount);
  }

  @OnCommand('billing.cmd.credits.get.v1')
  credits(@CommandPayload('billing.cmd.credits.get.v1') request: ValidRequestOf<'billing.cmd.credits.get.v1'>): Promise<CreditsView> {
    return this.getCredits.execute(request.caller.tenantId);
  }

  @OnCommand('billing.cmd.budget.get.v1')
  budget(@CommandPayload('billing.cmd.budget.get.v1') request: ValidRequestOf<'billing.cmd.budget.get.v1'>): Promise<BudgetView> {
    return this.budgets.get(request.caller.tenantId);
  }

  @OnCommand('billing.cmd.budget.set.v1')
  setBudget(@CommandPayload('billing.cmd.budget.set.v1') request: ValidRequestOf<'billing.cmd.budget.set.v1'>): Promise<BudgetView> {
    return this.budgets.set(request.caller.tenantId, request.budget);
  }

  @OnCommand('billing.cmd.admission.check.v1')
  admission(@CommandPayload('billing.cmd.admission.check.v1') request: ValidRequestOf<'billing.cmd.admission.check.v1'>): Promise<AdmissionCheckReply> {
    return this.budgets.admission(request.tenantId);
  }

  @OnCommand('billing.cmd.summary.get.v1')
  overview(@CommandPayload('billing.cmd.summary.get.v1') request: ValidRequestOf<'billing.cmd.summary.get.v1'>): Promise<BillingSummary> {
    return this.summary.execute(request.currency);
  }
}
