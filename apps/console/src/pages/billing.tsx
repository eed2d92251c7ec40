import { useMemo, useState, type FormEvent } from 'react';
import { api, query } from '../api/client';
import type { CreditNoteView, Invoice, InvoiceList, InvoiceView, Page, Plan, PlanAssignment, PlanInput, TenantView, UsageReply } from '../api/types';
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
      <PlansSection tenants={tenants.data?.items ?? []} />
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
  const invoices = useApi<InvoiceList>(`/v1/admin/invoices${query({ tenantId })}`);
  const [creditFor, setCreditFor] = useState<Invoice | null>(null);
  const [credited, setCredited] = useState<CreditNoteView | null>(null);
  const replace = (updated: Invoice) => invoices.setData((page) => (page ? { ...page, items: page.items.map((invoice) => (invoice.id === updated.id ? updated : invoice)) } : page));
  return (
    <Section title="Invoices" actions={<button type="button" onClick={invoices.reload} aria-label="Refresh invoices">Refresh</button>}>
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
                <th scope="col">Due</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {invoices.data.items.map((invoice) => (
                <InvoiceRow key={invoice.id} invoice={invoice} tenantName={tenantNames.get(invoice.tenantId) ?? invoice.tenantId.slice(0, 8)} onChanged={replace} onCredit={() => { setCredited(null); setCreditFor(invoice); }} />
              ))}
              {invoices.data.items.length === 0 ? (
                <tr>
                  <td colSpan={7} className="muted">
                    No invoices.
                  </td>
                </tr>
              ) : null}
            </tbody>
          </table>
        </div>
      ) : null}
      {creditFor ? (
        <CreditNoteForm
          invoice={creditFor}
          onDone={(note) => {
            setCreditFor(null);
            setCredited(note);
            if (note) invoices.reload();
          }}
        />
      ) : null}
      {credited ? (
        <p role="status" className="ok">
          Credit note {credited.id.slice(0, 8)} of {credited.amount} {credited.currency} issued on invoice {credited.invoiceId.slice(0, 8)}.
        </p>
      ) : null}
    </Section>
  );
}

function InvoiceRow({ invoice, tenantName, onChanged, onCredit }: { invoice: Invoice; tenantName: string; onChanged: (invoice: Invoice) => void; onCredit: () => void }) {
  const action = useAction();
  return (
    <tr>
      <td className="small">{invoice.id.slice(0, 8)}</td>
      <td>{tenantName}</td>
      <td className="small">
        {formatTime(invoice.periodStart)} – {formatTime(invoice.periodEnd)}
      </td>
      <td>
        <StateBadge state={invoice.status} />
      </td>
      <td>
        {invoice.total} {invoice.currency}
        {invoice.creditNotesTotal !== '0' && Number(invoice.creditNotesTotal) !== 0 ? <div className="small muted">credited {invoice.creditNotesTotal}</div> : null}
      </td>
      <td>
        {invoice.amountDue} {invoice.currency}
      </td>
      <td>
        <div className="actions">
          {invoice.status === 'draft' ? (
            <button type="button" aria-label={`Finalise invoice ${invoice.id}`} disabled={action.busy} onClick={() => void action.run(async () => onChanged(await api.post<InvoiceView>(`/v1/admin/invoices/${invoice.id}/finalize`)))}>
              Finalise
            </button>
          ) : (
            <button type="button" aria-label={`Credit note for invoice ${invoice.id}`} onClick={onCredit}>
              Credit note
            </button>
          )}
          <ErrorMessage error={action.error} />
        </div>
      </td>
    </tr>
  );
}

function CreditNoteForm({ invoice, onDone }: { invoice: Invoice; onDone: (note: CreditNoteView | null) => void }) {
  const [amount, setAmount] = useState('');
  const [reason, setReason] = useState('');
  const action = useAction();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    await action.run(async () => onDone(await api.post<CreditNoteView>(`/v1/admin/invoices/${invoice.id}/credit-notes`, { amount: amount.trim(), reason: reason.trim() })));
  };
  return (
    <form className="inline-form" onSubmit={submit} aria-label={`Credit note for invoice ${invoice.id}`}>
      <label>
        Amount ({invoice.currency}, at most {invoice.total} less {invoice.creditNotesTotal} credited)
        <input name="amount" required inputMode="decimal" pattern="[0-9]+(\.[0-9]{1,2})?" value={amount} onChange={(event) => setAmount(event.target.value)} />
      </label>
      <label>
        Reason
        <input name="reason" required maxLength={500} value={reason} onChange={(event) => setReason(event.target.value)} />
      </label>
      <button type="submit" disabled={action.busy}>
        Issue credit note
      </button>
      <button type="button" onClick={() => onDone(null)}>
        Cancel
      </button>
      <ErrorMessage error={action.error} />
    </form>
  );
}

/** The meters metering defines (docs/metering.md); a plan charges some of them. */
const METERS: Array<{ meter: string; label: string }> = [
  { meter: 'vcpu_seconds', label: 'vcpu_seconds (allocated vCPU-seconds)' },
  { meter: 'memory_gib_hours', label: 'memory_gib_hours (allocated GiB-hours)' },
  { meter: 'cpu_seconds', label: 'cpu_seconds (CPU time used)' },
  { meter: 'memory_peak_bytes', label: 'memory_peak_bytes (highest memory use)' },
];

function PlansSection({ tenants }: { tenants: TenantView[] }) {
  const plans = useApi<{ items: Plan[] }>('/v1/admin/plans');
  const [name, setName] = useState('');
  const [currency, setCurrency] = useState('USD');
  const [prices, setPrices] = useState<Record<string, string>>({});
  const [created, setCreated] = useState<Plan | null>(null);
  const action = useAction();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    await action.run(async () => {
      const charges = METERS.filter(({ meter }) => (prices[meter] ?? '').trim() !== '').map(({ meter }) => ({
        meter,
        aggregate: meter === 'memory_peak_bytes' ? ('max' as const) : ('sum' as const),
        pricing: { model: 'per_unit' as const, unitPrice: (prices[meter] ?? '').trim() },
      }));
      const body: PlanInput = { name: name.trim(), currency: currency.trim().toUpperCase(), charges };
      setCreated(await api.post<Plan>('/v1/admin/plans', body));
      setName('');
      setPrices({});
      plans.reload();
    });
  };
  return (
    <Section title="Price plans">
      {plans.loading && !plans.data ? <Loading what="plans" /> : null}
      <ErrorMessage error={plans.error} feature="Price plans" />
      {plans.data ? (
        <>
          <div className="table-wrap">
            <table aria-label="Price plans">
              <thead>
                <tr>
                  <th scope="col">Plan</th>
                  <th scope="col">Currency</th>
                  <th scope="col">Charges</th>
                  <th scope="col">Created</th>
                </tr>
              </thead>
              <tbody>
                {plans.data.items.map((plan) => (
                  <tr key={plan.id}>
                    <td>{plan.name}</td>
                    <td>{plan.currency}</td>
                    <td className="small">{plan.charges.map(describeCharge).join('; ') || 'nothing charged'}</td>
                    <td className="small">{formatTime(plan.createdAt)}</td>
                  </tr>
                ))}
                {plans.data.items.length === 0 ? (
                  <tr>
                    <td colSpan={4} className="muted">
                      No plans yet.
                    </td>
                  </tr>
                ) : null}
              </tbody>
            </table>
          </div>
          <h3>New plan</h3>
          <form onSubmit={submit} className="inline-form" aria-label="New price plan">
            <label>
              Plan name
              <input name="planName" required maxLength={100} value={name} onChange={(event) => setName(event.target.value)} />
            </label>
            <label>
              Currency
              <input name="currency" required pattern="[A-Za-z]{3}" size={4} value={currency} onChange={(event) => setCurrency(event.target.value)} />
            </label>
            {METERS.map(({ meter, label }) => (
              <label key={meter}>
                Unit price of {label}
                <input
                  name={`price-${meter}`}
                  inputMode="decimal"
                  pattern="[0-9]+(\.[0-9]{1,6})?"
                  placeholder="not charged"
                  value={prices[meter] ?? ''}
                  onChange={(event) => setPrices((current) => ({ ...current, [meter]: event.target.value }))}
                />
              </label>
            ))}
            <button type="submit" disabled={action.busy}>
              Create plan
            </button>
          </form>
          <ErrorMessage error={action.error} feature="Price plans" />
          {created ? (
            <p role="status" className="ok">
              Plan {created.name} created.
            </p>
          ) : null}
          <h3>Assign a plan</h3>
          <AssignPlanForm tenants={tenants} plans={plans.data.items} />
        </>
      ) : null}
    </Section>
  );
}

function AssignPlanForm({ tenants, plans }: { tenants: TenantView[]; plans: Plan[] }) {
  const [tenantId, setTenantId] = useState('');
  const [planId, setPlanId] = useState('');
  const [assigned, setAssigned] = useState<PlanAssignment | null>(null);
  const action = useAction();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    await action.run(async () => setAssigned(await api.put<PlanAssignment>(`/v1/admin/tenants/${tenantId}/plan`, { planId })));
  };
  return (
    <form onSubmit={submit} className="inline-form" aria-label="Assign a plan to a tenant">
      <label>
        Tenant
        <select name="assignTenant" aria-label="Tenant to assign the plan to" required value={tenantId} onChange={(event) => setTenantId(event.target.value)}>
          <option value="">Choose a tenant…</option>
          {tenants.map((tenant) => (
            <option key={tenant.id} value={tenant.id}>
              {tenant.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Plan
        <select name="assignPlan" aria-label="Plan to assign" required value={planId} onChange={(event) => setPlanId(event.target.value)}>
          <option value="">Choose a plan…</option>
          {plans.map((plan) => (
            <option key={plan.id} value={plan.id}>
              {plan.name} ({plan.currency})
            </option>
          ))}
        </select>
      </label>
      <button type="submit" disabled={action.busy || !tenantId || !planId}>
        Assign plan
      </button>
      <ErrorMessage error={action.error} feature="Plan assignment" />
      {assigned ? (
        <p role="status" className="ok">
          {tenants.find((tenant) => tenant.id === assigned.tenantId)?.name ?? assigned.tenantId} is on {plans.find((plan) => plan.id === assigned.planId)?.name ?? assigned.planId} from {formatTime(assigned.effectiveFrom)}.
        </p>
      ) : null}
    </form>
  );
}

function describeCharge(charge: Plan['charges'][number]): string {
  const pricing = charge.pricing;
  const price =
    pricing.model === 'per_unit'
      ? `${pricing.unitPrice} per unit`
      : pricing.model === 'package'
        ? `${pricing.packagePrice} per ${pricing.packageSize}`
        : `${pricing.model}, ${pricing.tiers.length} tiers`;
  return `${charge.meter}: ${price}${charge.freeAllowance !== '0' ? ` after ${charge.freeAllowance} free` : ''}`;
}
