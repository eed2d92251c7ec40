import { useMemo, useState, type FormEvent } from 'react';
import { api, query } from '../api/client';
import type { Invoice, Page, Plan, TenantView, UsageReply } from '../api/types';
import { BarChart } from '../components/bar-chart';
import { ErrorMessage, formatBytes, formatTime, Loading, Section, StateBadge, useAction, useApi } from '../components/common';

const DAY_MS = 24 * 3600 * 1000;

/** Usage per tenant and meter (metering), invoices, credit notes and price plans (billing). */
export function BillingPage() {
  const tenants = useApi<Page<TenantView>>('/v1/tenants?limit=500');
  const tenantNames = useMemo(() => new Map((tenants.data?.items ?? []).map((tenant) => [tenant.id, tenant.name])), [tenants.data]);
  return (
    <div className="page">
      <h1>Usage &amp; billing</h1>
      <UsageSection tenants={tenants.data?.items ?? []} tenantNames={tenantNames} />
      <InvoicesSection tenants={tenants.data?.items ?? []} tenantNames={tenantNames} />
      <PlansSection />
    </div>
  );
}

function UsageSection({ tenants, tenantNames }: { tenants: TenantView[]; tenantNames: Map<string, string> }) {
  const [days, setDays] = useState(7);
  const [tenantId, setTenantId] = useState('');
  // Whole UTC days, so the query (and the chart) does not change on every render.
  const [to] = useState(() => new Date(Math.ceil(Date.now() / DAY_MS) * DAY_MS));
  const from = new Date(to.getTime() - days * DAY_MS);
  const usage = useApi<UsageReply>(`/v1/admin/usage${query({ from: from.toISOString(), to: to.toISOString(), granularity: 'day', groupBy: 'meter', tenantId })}`);
  const byMeter = useMemo(() => {
    const meters = new Map<string, { unit: string; perTenant: Map<string, number> }>();
    for (const row of usage.data?.rows ?? []) {
      const meter = meters.get(row.meter) ?? { unit: row.unit, perTenant: new Map<string, number>() };
      const quantity = Number(row.quantity);
      const previous = meter.perTenant.get(row.tenantId);
      // Peaks and counts of a gauge do not add up over days: the period's value is the highest.
      meter.perTenant.set(row.tenantId, previous === undefined ? quantity : isGauge(row.meter) ? Math.max(previous, quantity) : previous + quantity);
      meters.set(row.meter, meter);
    }
    return meters;
  }, [usage.data]);
  return (
    <Section title="Usage per tenant and meter" actions={<button type="button" onClick={usage.reload} aria-label="Refresh usage">Refresh</button>}>
      <form className="inline-form" onSubmit={(event) => event.preventDefault()} aria-label="Usage filters">
        <label>
          Period
          <select name="days" aria-label="Period" value={days} onChange={(event) => setDays(Number(event.target.value))}>
            <option value={1}>Last day</option>
            <option value={7}>Last 7 days</option>
            <option value={30}>Last 30 days</option>
          </select>
        </label>
        <label>
          Tenant
          <select name="tenant" aria-label="Usage tenant" value={tenantId} onChange={(event) => setTenantId(event.target.value)}>
            <option value="">All tenants</option>
            {tenants.map((tenant) => (
              <option key={tenant.id} value={tenant.id}>
                {tenant.name}
              </option>
            ))}
          </select>
        </label>
      </form>
      {usage.loading && !usage.data ? <Loading what="usage" /> : null}
      <ErrorMessage error={usage.error} feature="Metered usage" />
      {usage.data && byMeter.size === 0 ? <p className="muted">No usage recorded in this period.</p> : null}
      <div className="grid">
        {[...byMeter.entries()].map(([meter, { unit, perTenant }]) => (
          <BarChart
            key={meter}
            title={`${meter} (${isGauge(meter) ? `highest ${unit}` : unit})`}
            bars={[...perTenant.entries()].map(([tenant, quantity]) => ({ label: tenantNames.get(tenant) ?? tenant.slice(0, 8), value: quantity, text: formatUsage(quantity, unit) }))}
          />
        ))}
      </div>
    </Section>
  );
}

function isGauge(meter: string): boolean {
  return /peak|pids/.test(meter);
}

function formatUsage(value: number, unit: string): string {
  return unit === 'byte' ? formatBytes(value) : `${formatQuantity(value)} ${unit}`;
}

function formatQuantity(value: number): string {
  return value >= 1000 ? value.toExponential(2) : value.toFixed(value % 1 === 0 ? 0 : 3);
}

function InvoicesSection({ tenants, tenantNames }: { tenants: TenantView[]; tenantNames: Map<string, string> }) {
  const [tenantId, setTenantId] = useState('');
  const invoices = useApi<Page<Invoice>>(`/v1/admin/invoices${query({ tenantId })}`);
  const [creditFor, setCreditFor] = useState<Invoice | null>(null);
  const replace = (updated: Invoice) => invoices.setData((page) => (page ? { ...page, items: page.items.map((invoice) => (invoice.id === updated.id ? updated : invoice)) } : page));
  return (
    <Section title="Invoices">
      <form className="inline-form" onSubmit={(event) => event.preventDefault()} aria-label="Invoice filters">
        <label>
          Tenant
          <select name="invoiceTenant" aria-label="Invoice tenant" value={tenantId} onChange={(event) => setTenantId(event.target.value)}>
            <option value="">All tenants</option>
            {tenants.map((tenant) => (
              <option key={tenant.id} value={tenant.id}>
                {tenant.name}
              </option>
            ))}
          </select>
        </label>
      </form>
      {invoices.loading && !invoices.data ? <Loading what="invoices" /> : null}
      <ErrorMessage error={invoices.error} feature="Invoices" />
      {invoices.data ? (
        <div className="table-wrap">
          <table aria-label="Invoices">
            <thead>
              <tr>
                <th scope="col">Invoice</th>
                <th scope="col">Tenant</th>
                <th scope="col">Period</th>
                <th scope="col">Status</th>
                <th scope="col">Total</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {invoices.data.items.map((invoice) => (
                <InvoiceRow key={invoice.id} invoice={invoice} tenantName={invoice.tenantId ? (tenantNames.get(invoice.tenantId) ?? invoice.tenantId.slice(0, 8)) : '—'} onChanged={replace} onCredit={() => setCreditFor(invoice)} />
              ))}
              {invoices.data.items.length === 0 ? (
                <tr>
                  <td colSpan={6} className="muted">
                    No invoices.
                  </td>
                </tr>
              ) : null}
            </tbody>
          </table>
        </div>
      ) : null}
      {creditFor ? <CreditNoteForm invoice={creditFor} onDone={() => setCreditFor(null)} /> : null}
    </Section>
  );
}

function InvoiceRow({ invoice, tenantName, onChanged, onCredit }: { invoice: Invoice; tenantName: string; onChanged: (invoice: Invoice) => void; onCredit: () => void }) {
  const action = useAction();
  const status = String(invoice.status ?? invoice.state ?? 'unknown');
  return (
    <tr>
      <td className="small">{invoice.id.slice(0, 8)}</td>
      <td>{tenantName}</td>
      <td className="small">
        {formatTime(invoice.periodStart)} – {formatTime(invoice.periodEnd)}
      </td>
      <td>
        <StateBadge state={status} />
      </td>
      <td>
        {invoice.total ?? '—'} {invoice.currency ?? ''}
      </td>
      <td>
        <div className="actions">
          {status === 'draft' ? (
            <button type="button" aria-label={`Finalise invoice ${invoice.id}`} disabled={action.busy} onClick={() => void action.run(async () => onChanged(await api.post<Invoice>(`/v1/admin/invoices/${invoice.id}/finalize`)))}>
              Finalise
            </button>
          ) : null}
          {status === 'finalized' || status === 'finalised' ? (
            <button type="button" aria-label={`Credit note for invoice ${invoice.id}`} onClick={onCredit}>
              Credit note
            </button>
          ) : null}
          <ErrorMessage error={action.error} />
        </div>
      </td>
    </tr>
  );
}

function CreditNoteForm({ invoice, onDone }: { invoice: Invoice; onDone: () => void }) {
  const [amount, setAmount] = useState('');
  const [reason, setReason] = useState('');
  const action = useAction();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (await action.run(() => api.post(`/v1/admin/invoices/${invoice.id}/credit-notes`, { amount: amount.trim(), reason: reason.trim() }))) onDone();
  };
  return (
    <form className="inline-form" onSubmit={submit} aria-label={`Credit note for invoice ${invoice.id}`}>
      <label>
        Amount ({invoice.currency ?? 'decimal'})
        <input name="amount" required inputMode="decimal" pattern="[0-9]+(\.[0-9]{1,2})?" value={amount} onChange={(event) => setAmount(event.target.value)} />
      </label>
      <label>
        Reason
        <input name="reason" required value={reason} onChange={(event) => setReason(event.target.value)} />
      </label>
      <button type="submit" disabled={action.busy}>
        Issue credit note
      </button>
      <button type="button" onClick={onDone}>
        Cancel
      </button>
      <ErrorMessage error={action.error} />
    </form>
  );
}

function PlansSection() {
  const plans = useApi<Page<Plan>>('/v1/admin/plans');
  const [definition, setDefinition] = useState('');
  const action = useAction();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    await action.run(async () => {
      let body: unknown;
      try {
        body = JSON.parse(definition);
      } catch {
        throw new Error('the plan definition is not valid JSON');
      }
      await api.post('/v1/admin/plans', body);
      setDefinition('');
      plans.reload();
    });
  };
  return (
    <Section title="Price plans">
      {plans.loading && !plans.data ? <Loading what="plans" /> : null}
      <ErrorMessage error={plans.error} feature="Price plans" />
      {plans.data ? (
        <>
          <ul className="plans" aria-label="Price plans">
            {plans.data.items.map((plan) => (
              <li key={plan.id}>
                <strong>{plan.name ?? plan.id}</strong> <span className="small muted">{plan.currency ?? ''}</span>
                <details>
                  <summary>Definition</summary>
                  <pre className="small">{JSON.stringify(plan, null, 2)}</pre>
                </details>
              </li>
            ))}
            {plans.data.items.length === 0 ? <li className="muted">No plans yet.</li> : null}
          </ul>
          <form onSubmit={submit} className="stack-form">
            <label>
              New plan definition (JSON, as the billing API takes it)
              <textarea name="planDefinition" rows={5} required value={definition} onChange={(event) => setDefinition(event.target.value)} />
            </label>
            <button type="submit" disabled={action.busy}>
              Create plan
            </button>
          </form>
          <ErrorMessage error={action.error} />
        </>
      ) : null}
    </Section>
  );
}
