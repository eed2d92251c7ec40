import { Controller, Inject } from '@nestjs/common';
import type { PlanAssignment, PlanView, ValidRequestOf } from '@gureum/contracts';
import { CommandPayload, OnCommand } from '@gureum/messaging';
import { AssignPlanUseCase, CreatePlanUseCase, ListPlansUseCase } from './plan-usecases';

@Controller()
export class PlansController {
  constructor(
    @Inject(CreatePlanUseCase) private readonly createPlan: CreatePlanUseCase,
    @Inject(ListPlansUseCase) private readonly listPlans: ListPlansUseCase,
    @Inject(AssignPlanUseCase) private readonly assignPlan: AssignPlanUseCase,
  ) {}

  @OnCommand('billing.cmd.plan.create.v1')
  create(@CommandPayload('billing.cmd.plan.create.v1') request: ValidRequestOf<'billing.cmd.plan.create.v1'>): Promise<PlanView> {
    return this.createPlan.execute(request.plan);
  }

  @OnCommand('billing.cmd.plan.list.v1')
  list(@CommandPayload('billing.cmd.plan.list.v1') _request: ValidRequestOf<'billing.cmd.plan.list.v1'>): Promise<{ items: PlanView[] }> {
    return this.listPlans.execute();
  }

  @OnCommand('billing.cmd.plan.assign.v1')
  assign(@CommandPayload('billing.cmd.plan.assign.v1') request: ValidRequestOf<'billing.cmd.plan.assign.v1'>): Promise<PlanAssignment> {
    return this.assignPlan.execute(request.tenantId, request.planId, request.effectiveFrom);
  }
}
