import { z } from 'zod';
import { CallerSchema, OperatorCallerSchema } from './caller';

/**
 * Billing's wire contracts. Money and quantities are decimal strings, never JSON numbers;
 * amounts have at most the currency's minor-unit digits, quantities and prices at most six.
 */
export const DecimalStringSchema = z.string().regex(/^-?[0-9]{1,14}(\.[0-9]{1,6})?$/, 'must be a decimal string with at most 14 integer and 6 fraction digits');
export const NonNegativeDecimalSchema = z.string().regex(/^[0-9]{1,14}(\.[0-9]{1,6})?$/, 'must be a non-negative decimal string (at most 6 fraction digits)');
export const PositiveDecimalSchema = NonNegativeDecimalSchema.refine((text) => /[1-9]/.test(text), 'must be greater than zero');
/** An amount of money: at most two fraction digits (numeric(20,2)); the currency may allow fewer. */
export const MoneyAmountSchema = z.string().regex(/^[0-9]{1,18}(\.[0-9]{1,2})?$/, 'must be a non-negative amount with at most 2 fraction digits, as a string');
export const CurrencySchema = z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 currency code');

/** Compares two non-negative decimal strings exactly (contracts carry no decimal library). */
export function compareDecimalText(a: string, b: string): number {
  const [aInt = '0', aFrac = ''] = a.split('.');
  const [bInt = '0', bFrac = ''] = b.split('.');
  const ai = aInt.replace(/^0+(?=.)/, '');
  const bi = bInt.replace(/^0+(?=.)/, '');
  if (ai.length !== bi.length) return ai.length < bi.length ? -1 : 1;
  const width = Math.max(aFrac.length, bFrac.length);
  const left = ai + aFrac.padEnd(width, '0');
  const right = bi + bFrac.padEnd(width, '0');
  return left === right ? 0 : left < right ? -1 : 1;
}

export const PriceTierSchema = z
  .object({
    /** Upper bound of the tier (inclusive); null for the last, open-ended tier. */
    upTo: PositiveDecimalSchema.nullable(),
    unitPrice: NonNegativeDecimalSchema,
    /** Charged once when any quantity falls in the tier (graduated) or when the tier applies (volume). */
    flatFee: NonNegativeDecimalSchema.default('0'),
  })
  .strict();
export type PriceTier = z.output<typeof PriceTierSchema>;

const tiersSchema = z
  .array(PriceTierSchema)
  .min(1)
  .max(20)
  .superRefine((tiers, ctx) => {
    tiers.forEach((tier, index) => {
      const last = index === tiers.length - 1;
      if (last !== (tier.upTo === null)) ctx.addIssue({ code: 'custom', path: [index, 'upTo'], message: 'only the last tier, and it must, has upTo null' });
      const previous = tiers[index - 1]?.upTo;
      if (index > 0 && tier.upTo !== null && previous && compareDecimalText(tier.upTo, previous) <= 0) {
        ctx.addIssue({ code: 'custom', path: [index, 'upTo'], message: 'tiers must have increasing upTo' });
      }
    });
  });

export const PricingSchema = z.discriminatedUnion('model', [
  z.object({ model: z.literal('per_unit'), unitPrice: NonNegativeDecimalSchema }).strict(),
  z.object({ model: z.literal('graduated'), tiers: tiersSchema }).strict(),
  z.object({ model: z.literal('volume'), tiers: tiersSchema }).strict(),
  z.object({ model: z.literal('package'), packageSize: PositiveDecimalSchema, packagePrice: NonNegativeDecimalSchema }).strict(),
]);
export type Pricing = z.output<typeof PricingSchema>;

export const ChargeSchema = z
  .object({
    meter: z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, 'must be a meter name'),
    /** Units per period not charged; the pricing applies to what exceeds it. */
    freeAllowance: NonNegativeDecimalSchema.default('0'),
    /** How the period's hourly rollups combine: `sum` for additive meters, `max` for peaks. */
    aggregate: z.enum(['sum', 'max']).default('sum'),
    pricing: PricingSchema,
  })
  .strict();
export type Charge = z.output<typeof ChargeSchema>;

export const PlanInputSchema = z
  .object({
    name: z.string().trim().min(1).max(100),
    currency: CurrencySchema,
    charges: z
      .array(ChargeSchema)
      .max(50)
      .refine((charges) => new Set(charges.map((c) => c.meter)).size === charges.length, 'at most one charge per meter'),
  })
  .strict();
export type PlanInput = z.input<typeof PlanInputSchema>;

export const PlanViewSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  currency: CurrencySchema,
  charges: z.array(ChargeSchema),
  createdAt: z.iso.datetime({ offset: true }),
});
export type PlanView = z.infer<typeof PlanViewSchema>;
export const PlanListSchema = z.object({ items: z.array(PlanViewSchema) });

export const PlanCreateRequestSchema = z.object({ caller: OperatorCallerSchema, plan: PlanInputSchema }).strict();
export const PlanListRequestSchema = z.object({ caller: OperatorCallerSchema }).strict();
export const PlanAssignRequestSchema = z
  .object({ caller: OperatorCallerSchema, tenantId: z.uuid(), planId: z.uuid(), effectiveFrom: z.iso.datetime({ offset: true }).optional() })
  .strict();
export const PlanAssignmentSchema = z.object({
  tenantId: z.uuid(),
  planId: z.uuid(),
  currency: CurrencySchema,
  effectiveFrom: z.iso.datetime({ offset: true }),
});
export type PlanAssignment = z.infer<typeof PlanAssignmentSchema>;

export const InvoiceStatusSchema = z.enum(['draft', 'finalised']);

export const InvoiceLineSchema = z.object({
  meter: z.string(),
  unit: z.string(),
  /** The period's usage of the meter, from rollups `[usageFrom, usageTo)`. */
  quantity: z.string(),
  freeQuantity: z.string(),
  billableQuantity: z.string(),
  pricing: PricingSchema,
  amount: z.string(),
  usageFrom: z.iso.datetime({ offset: true }),
  usageTo: z.iso.datetime({ offset: true }),
  /** Hourly rollups that made up the quantity. */
  rollupHours: z.number().int().min(0),
});
export type InvoiceLine = z.infer<typeof InvoiceLineSchema>;

export const CreditNoteViewSchema = z.object({
  id: z.uuid(),
  invoiceId: z.uuid(),
  tenantId: z.uuid(),
  amount: z.string(),
  currency: CurrencySchema,
  reason: z.string(),
  createdAt: z.iso.datetime({ offset: true }),
});
export type CreditNoteView = z.infer<typeof CreditNoteViewSchema>;

export const InvoiceSummarySchema = z.object({
  id: z.uuid(),
  tenantId: z.uuid(),
  planId: z.uuid(),
  status: InvoiceStatusSchema,
  currency: CurrencySchema,
  periodStart: z.iso.datetime({ offset: true }),
  periodEnd: z.iso.datetime({ offset: true }),
  total: z.string(),
  creditsApplied: z.string(),
  amountDue: z.string(),
  creditNotesTotal: z.string(),
  computedAt: z.iso.datetime({ offset: true }),
  finalisedAt: z.iso.datetime({ offset: true }).nullable(),
});
export type InvoiceSummary = z.infer<typeof InvoiceSummarySchema>;
export const InvoiceViewSchema = InvoiceSummarySchema.extend({ lines: z.array(InvoiceLineSchema), creditNotes: z.array(CreditNoteViewSchema) });
export type InvoiceView = z.infer<typeof InvoiceViewSchema>;
export const InvoiceListSchema = z.object({ items: z.array(InvoiceSummarySchema), nextCursor: z.string().nullable() });
export type InvoiceList = z.infer<typeof InvoiceListSchema>;

const anyCaller = z.union([CallerSchema, OperatorCallerSchema]);
export const InvoiceListRequestSchema = z
  .object({ caller: anyCaller, tenantId: z.uuid().optional(), limit: z.number().int().min(1).max(200).default(50), cursor: z.string().max(200).optional() })
  .strict();
export const InvoiceRefRequestSchema = z.object({ caller: anyCaller, invoiceId: z.uuid() }).strict();
export const InvoiceFinalizeRequestSchema = z.object({ caller: OperatorCallerSchema, invoiceId: z.uuid() }).strict();
export const CreditNoteCreateRequestSchema = z
  .object({ caller: OperatorCallerSchema, invoiceId: z.uuid(), amount: MoneyAmountSchema, reason: z.string().trim().min(1).max(500) })
  .strict();

export const CostRequestSchema = z.object({ caller: CallerSchema }).strict();
export const CostViewSchema = z.object({
  /** Null (and every amount zero) while no plan bills the tenant this period. */
  currency: CurrencySchema.nullable(),
  periodStart: z.iso.datetime({ offset: true }),
  periodEnd: z.iso.datetime({ offset: true }),
  costSoFar: z.string(),
  forecast: z.string(),
});
export type CostView = z.infer<typeof CostViewSchema>;

export const CreditsGrantRequestSchema = z.object({ caller: OperatorCallerSchema, tenantId: z.uuid(), amount: MoneyAmountSchema }).strict();
export const CreditsRequestSchema = z.object({ caller: CallerSchema }).strict();
export const CreditsViewSchema = z.object({
  tenantId: z.uuid(),
  /** Null (balance zero, no entries) while the tenant has no plan, hence no currency. */
  currency: CurrencySchema.nullable(),
  balance: z.string(),
  entries: z.array(
    z.object({
      kind: z.enum(['grant', 'invoice', 'credit_note']),
      amount: z.string(),
      invoiceId: z.uuid().nullable(),
      createdAt: z.iso.datetime({ offset: true }),
    }),
  ),
});
export type CreditsView = z.infer<typeof CreditsViewSchema>;

export const BudgetInputSchema = z
  .object({
    amount: MoneyAmountSchema,
    alertThresholdsPercent: z
      .array(z.number().int().min(1).max(1000))
      .max(10)
      .refine((values) => new Set(values).size === values.length, 'thresholds must be distinct'),
    hardLimit: z.boolean().default(false),
  })
  .strict();
export type BudgetInput = z.input<typeof BudgetInputSchema>;
export const BudgetRequestSchema = z.object({ caller: CallerSchema }).strict();
export const BudgetSetRequestSchema = z.object({ caller: CallerSchema, budget: BudgetInputSchema }).strict();
export const BudgetAlertSchema = z.object({
  periodStart: z.iso.datetime({ offset: true }),
  thresholdPercent: z.number().int(),
  costAtAlert: z.string(),
  at: z.iso.datetime({ offset: true }),
});
export const BudgetViewSchema = z.object({
  /** Null while the tenant has set no budget. */
  amount: z.string().nullable(),
  alertThresholdsPercent: z.array(z.number().int()),
  hardLimit: z.boolean(),
  currency: CurrencySchema.nullable(),
  periodStart: z.iso.datetime({ offset: true }),
  periodEnd: z.iso.datetime({ offset: true }),
  /** As of the current period's draft invoice. */
  costSoFar: z.string(),
  alerts: z.array(BudgetAlertSchema),
});
export type BudgetView = z.infer<typeof BudgetViewSchema>;

export const BillingSummaryRequestSchema = z.object({ caller: OperatorCallerSchema, currency: CurrencySchema.optional() }).strict();
export const BillingSummarySchema = z.object({
  currency: CurrencySchema,
  periodStart: z.iso.datetime({ offset: true }),
  periodEnd: z.iso.datetime({ offset: true }),
  /** Sum of this period's invoice totals (drafts included) in `currency`. */
  revenue: z.string(),
  /** Tenants with an invoice this period in `currency`. */
  tenants: z.number().int().min(0),
});
export type BillingSummary = z.infer<typeof BillingSummarySchema>;

/** Asked by the api before it forwards a workload create: is the tenant over a hard budget limit? */
export const AdmissionCheckRequestSchema = z.object({ tenantId: z.uuid() }).strict();
export const AdmissionCheckReplySchema = z.object({ allowed: z.boolean(), reason: z.string().nullable() });
export type AdmissionCheckReply = z.infer<typeof AdmissionCheckReplySchema>;

/** Published once per tenant, period and threshold when the period's cost crosses the threshold. */
export const BudgetAlertEventSchema = z.object({
  eventId: z.uuid(),
  tenantId: z.uuid(),
  periodStart: z.iso.datetime({ offset: true }),
  thresholdPercent: z.number().int(),
  budget: z.string(),
  costSoFar: z.string(),
  currency: CurrencySchema,
  occurredAt: z.iso.datetime({ offset: true }),
});
export type BudgetAlertEvent = z.infer<typeof BudgetAlertEventSchema>;

export const InvoiceFinalisedEventSchema = z.object({
  eventId: z.uuid(),
  invoiceId: z.uuid(),
  tenantId: z.uuid(),
  periodStart: z.iso.datetime({ offset: true }),
  periodEnd: z.iso.datetime({ offset: true }),
  currency: CurrencySchema,
  total: z.string(),
  amountDue: z.string(),
  occurredAt: z.iso.datetime({ offset: true }),
});
