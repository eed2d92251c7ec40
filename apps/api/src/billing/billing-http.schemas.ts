import { CurrencySchema, MoneyAmountSchema } from '@gureum/contracts';
import { z } from 'zod';

/** HTTP-only parts of the billing routes; bodies and replies are otherwise the contract schemas. */
export const InvoicePathSchema = z.object({ id: z.uuid({ message: 'must be an invoice id (a UUID)' }) }).strict();
export type InvoicePath = z.output<typeof InvoicePathSchema>;

export const InvoiceListQuerySchema = z
  .object({
    limit: z.coerce.number().int().min(1).max(200).default(50),
    cursor: z.string().min(1).max(200).optional(),
  })
  .strict();
export type InvoiceListQuery = z.output<typeof InvoiceListQuerySchema>;

export const AdminInvoiceListQuerySchema = InvoiceListQuerySchema.extend({ tenantId: z.uuid({ message: 'must be a tenant id (a UUID)' }).optional() }).strict();
export type AdminInvoiceListQuery = z.output<typeof AdminInvoiceListQuerySchema>;

export const AssignPlanBodySchema = z.object({ planId: z.uuid(), effectiveFrom: z.iso.datetime({ offset: true }).optional() }).strict();
export type AssignPlanBody = z.output<typeof AssignPlanBodySchema>;

export const CreditNoteBodySchema = z.object({ amount: MoneyAmountSchema, reason: z.string().trim().min(1).max(500) }).strict();
export type CreditNoteBody = z.output<typeof CreditNoteBodySchema>;

export const GrantCreditsBodySchema = z.object({ amount: MoneyAmountSchema }).strict();
export type GrantCreditsBody = z.output<typeof GrantCreditsBodySchema>;

export const BillingSummaryQuerySchema = z.object({ currency: CurrencySchema.optional() }).strict();
export type BillingSummaryQuery = z.output<typeof BillingSummaryQuerySchema>;
