import { Module, type DynamicModule } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AccountController } from './budgets/account.controller';
import { BudgetUseCases } from './budgets/budget.usecases';
import { BillingSummaryUseCase, GetCostUseCase } from './cost/cost.usecases';
import { GetCreditsUseCase, GrantCreditsUseCase } from './credits/credits.usecases';
import { CreateCreditNoteUseCase } from './invoices/create-credit-note.usecase';
import { FinalizeInvoiceUseCase } from './invoices/finalize-invoice.usecase';
import { InvoicesController } from './invoices/invoices.controller';
import { AssignPlanUseCase, CreatePlanUseCase, ListPlansUseCase } from './plans/plan-usecases';
import { PlansController } from './plans/plans.controller';

/** The use cases, built by the bootstrap (which owns the connections and the clock). */
export interface BillingModuleDependencies {
  dataSource: DataSource;
  createPlan: CreatePlanUseCase;
  listPlans: ListPlansUseCase;
  assignPlan: AssignPlanUseCase;
  finalizeInvoice: FinalizeInvoiceUseCase;
  createCreditNote: CreateCreditNoteUseCase;
  cost: GetCostUseCase;
  summary: BillingSummaryUseCase;
  grantCredits: GrantCreditsUseCase;
  getCredits: GetCreditsUseCase;
  budgets: BudgetUseCases;
}

@Module({})
export class BillingModule {
  static register(d: BillingModuleDependencies): DynamicModule {
    return {
      module: BillingModule,
      controllers: [PlansController, InvoicesController, AccountController],
      providers: [
        { provide: DataSource, useValue: d.dataSource },
        { provide: CreatePlanUseCase, useValue: d.createPlan },
        { provide: ListPlansUseCase, useValue: d.listPlans },
        { provide: AssignPlanUseCase, useValue: d.assignPlan },
        { provide: FinalizeInvoiceUseCase, useValue: d.finalizeInvoice },
        { provide: CreateCreditNoteUseCase, useValue: d.createCreditNote },
        { provide: GetCostUseCase, useValue: d.cost },
        { provide: BillingSummaryUseCase, useValue: d.summary },
        { provide: GrantCreditsUseCase, useValue: d.grantCredits },
        { provide: GetCreditsUseCase, useValue: d.getCredits },
        { provide: BudgetUseCases, useValue: d.budgets },
      ],
    };
  }
}
