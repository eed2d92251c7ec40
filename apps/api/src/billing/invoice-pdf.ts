import type { InvoiceView } from '@gureum/contracts';

/** PDF string literal: only printable ASCII, with \ ( ) escaped. */
function pdfText(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').replace(/([\\()])/g, '\\$1');
}

/**
 * A one-page (or longer) printable invoice as a minimal, valid PDF 1.4: Helvetica, a text table,
 * uncompressed content streams (so the total is searchable in the file), an exact xref table.
 */
export function invoicePdf(invoice: InvoiceView): Buffer {
  const lines: string[] = [
    `Invoice ${invoice.id}`,
    `Tenant ${invoice.tenantId}`,
    `Period ${invoice.periodStart} - ${invoice.periodEnd}`,
    `Status ${invoice.status}${invoice.finalisedAt ? ` (finalised ${invoice.finalisedAt})` : ''}`,
    '',
    `${'Meter'.padEnd(22)}${'Quantity'.padStart(20)}${'Billable'.padStart(20)}${'Amount'.padStart(16)}`,
    ...invoice.lines.map((l) => `${l.meter.slice(0, 21).padEnd(22)}${l.quantity.padStart(20)}${l.billableQuantity.padStart(20)}${l.amount.padStart(16)}`),
    '',
    `Total: ${invoice.total} ${invoice.currency}`,
    `Credits applied: ${invoice.creditsApplied} ${invoice.currency}`,
    `Amount due: ${invoice.amountDue} ${invoice.currency}`,
    ...invoice.creditNotes.map((n) => `Credit note ${n.id}: ${n.amount} ${n.currency} (${n.reason})`),
  ];
  const perPage = 48;
  const pages: string[][] = [];
  for (let i = 0; i < lines.length; i += perPage) pages.push(lines.slice(i, i + perPage));

  // Objects: 1 catalog, 2 page tree, 3 font, then a page and its content stream per page.
  const objects: string[] = [];
  const pageIds = pages.map((_, i) => 4 + i * 2);
  objects[1] = '<< /Type /Catalog /Pages 2 0 R >>';
  objects[2] = `<< /Type /Pages /Kids [${pageIds.map((id) => `${id} 0 R`).join(' ')}] /Count ${pages.length} >>`;
  objects[3] = '<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>';
  pages.forEach((pageLines, i) => {
    const content = ['BT', '/F1 9 Tf', '11 TL', '40 800 Td', ...pageLines.map((l) => `(${pdfText(l)}) Tj T*`), 'ET'].join('\n');
    objects[4 + i * 2] = `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> /Contents ${5 + i * 2} 0 R >>`;
    objects[5 + i * 2] = `<< /Length ${Buffer.byteLength(content, 'latin1')} >>\nstream\n${content}\nendstream`;
  });

  let body = '%PDF-1.4\n';
  const offsets: number[] = [];
  for (let id = 1; id < objects.length; id += 1) {
    offsets[id] = Buffer.byteLength(body, 'latin1');
    body += `${id} 0 obj\n${objects[id]}\nendobj\n`;
  }
  const xrefAt = Buffer.byteLength(body, 'latin1');
  body += `xref\n0 ${objects.length}\n0000000000 65535 f \n`;
  for (let id = 1; id < objects.length; id += 1) body += `${String(offsets[id]).padStart(10, '0')} 00000 n \n`;
  body += `trailer\n<< /Size ${objects.length} /Root 1 0 R >>\nstartxref\n${xrefAt}\n%%EOF\n`;
  return Buffer.from(body, 'latin1');
}
