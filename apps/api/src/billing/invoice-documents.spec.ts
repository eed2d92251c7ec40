import type { InvoiceView } from '@gureum/contracts';
import { invoiceCsv } from './invoice-csv';
import { invoicePdf } from './invoice-pdf';

const invoice: InvoiceView = {
  id: '5f0c2a4e-1f8e-4a53-9a4f-4f0e6f0d1a11',
  tenantId: '7b0c2a4e-1f8e-4a53-9a4f-4f0e6f0d1a11',
  planId: '8c0c2a4e-1f8e-4a53-9a4f-4f0e6f0d1a11',
  status: 'finalised',
  currency: 'USD',
  periodStart: '2026-03-10T10:00:00.000Z',
  periodEnd: '2026-03-10T11:00:00.000Z',
  total: '6.12',
  creditsApplied: '2.00',
  amountDue: '4.12',
  creditNotesTotal: '0.00',
  computedAt: '2026-03-10T11:01:00.000Z',
  finalisedAt: '2026-03-10T11:01:00.000Z',
  lines: [
    {
      meter: 'vcpu_seconds',
      unit: 'vCPU-second',
      quantity: '3600',
      freeQuantity: '0',
      billableQuantity: '3600',
      pricing: { model: 'per_unit', unitPrice: '0.001' },
      amount: '3.60',
      usageFrom: '2026-03-10T10:00:00.000Z',
      usageTo: '2026-03-10T11:00:00.000Z',
      rollupHours: 1,
    },
    {
      meter: 'memory_gib_hours',
      unit: 'GiB-hour, "allocated"',
      quantity: '21',
      freeQuantity: '1',
      billableQuantity: '20',
      pricing: { model: 'graduated', tiers: [{ upTo: null, unitPrice: '0.126', flatFee: '0' }] },
      amount: '2.52',
      usageFrom: '2026-03-10T10:00:00.000Z',
      usageTo: '2026-03-10T11:00:00.000Z',
      rollupHours: 1,
    },
  ],
  creditNotes: [],
};

describe('invoice documents', () => {
  it('CSV: a header, one row per line with its rollup range, quoted where needed, then the totals', () => {
    const rows = invoiceCsv(invoice).trimEnd().split('\r\n');
    expect(rows).toHaveLength(1 + 2 + 3);
    expect(rows[0]).toMatch(/^invoice_id,tenant_id,status,currency,period_start,period_end,meter,unit,usage_from,usage_to,rollup_hours,quantity/);
    expect(rows[1]).toContain(',vcpu_seconds,vCPU-second,2026-03-10T10:00:00.000Z,2026-03-10T11:00:00.000Z,1,3600,0,3600,per_unit,3.60');
    expect(rows[2]).toContain(',memory_gib_hours,"GiB-hour, ""allocated""",');
    expect(rows[3]).toMatch(/,TOTAL,(,){8}6\.12$/);
    expect(rows[5]).toMatch(/,AMOUNT_DUE,(,){8}4\.12$/);
  });

  it('PDF: a valid PDF 1.4 whose xref offsets point at its objects and whose text shows the total', () => {
    const pdf = invoicePdf(invoice).toString('latin1');
    expect(pdf.startsWith('%PDF-1.4\n')).toBe(true);
    expect(pdf.trimEnd().endsWith('%%EOF')).toBe(true);
    expect(pdf).toContain('(Total: 6.12 USD) Tj');
    expect(pdf).toContain('(Amount due: 4.12 USD) Tj');
    const startxref = Number(/startxref\n(\d+)\n/.exec(pdf)?.[1]);
    expect(pdf.slice(startxref, startxref + 4)).toBe('xref');
    const offsets = [...pdf.slice(startxref).matchAll(/^(\d{10}) 00000 n $/gm)].map((m) => Number(m[1]));
    expect(offsets.length).toBeGreaterThanOrEqual(5);
    offsets.forEach((offset, index) => expect(pdf.slice(offset, offset + `${index + 1} 0 obj`.length)).toBe(`${index + 1} 0 obj`));
    const length = Number(/\/Length (\d+) >>\nstream\n/.exec(pdf)?.[1]);
    const streamStart = pdf.indexOf('stream\n') + 'stream\n'.length;
    expect(pdf.slice(streamStart + length, streamStart + length + '\nendstream'.length)).toBe('\nendstream');
  });
});
