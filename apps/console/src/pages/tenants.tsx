import { useState, type FormEvent } from 'react';
import { api } from '../api/client';
import type { CreatedTenant, Page, Plan, PlanAssignment, Quotas, TenantView } from '../api/types';
import { BarChart } from '../components/bar-chart';
import { ErrorMessage, formatCpu, formatMiB, formatTime, Loading, Section, StateBadge, useAction, useApi } from '../components/common';

export function TenantsPage() {
  const tenants = useApi<Page<TenantView>>('/v1/tenants?limit=500');
  const [selected, setSelected] = useState<string | null>(null);
  const replace = (updated: TenantView) => tenants.setData((page) => (page ? { ...page, items: page.items.map((tenant) => (tenant.id === updated.id ? { ...tenant, status: updated.status } : tenant)) } : page));
  const selectedTenant = tenants.data?.items.find((tenant) => tenant.id === selected) ?? null;
  return (
    <div className="page">
      <h1>Tenants</h1>
      <CreateTenant onCreated={(created) => tenants.setData((page) => ({ items: [...(page?.items ?? []), created.tenant], nextCursor: page?.nextCursor ?? null }))} />
      <Section title="All tenants">
        {tenants.loading && !tenants.data ? <Loading what="tenants" /> : null}
        <ErrorMessage error={tenants.error} />
        {tenants.data ? (
          <div className="table-wrap">
            <table aria-label="Tenants">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Status</th>
                  <th scope="col">Created</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {tenants.data.items.map((tenant) => (
                  <tr key={tenant.id} aria-selected={tenant.id === selected}>
                    <td>
                      {tenant.name}
                      <div className="small muted">{tenant.id}</div>
                    </td>
                    <td>
                      <StateBadge state={tenant.status} />
                    </td>
                    <td>{formatTime(tenant.createdAt)}</td>
                    <td>
                      <TenantActions tenant={tenant} onChanged={replace} onManage={() => setSelected(tenant.id)} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : null}
      </Section>
      {selectedTenant ? <TenantSettings key={selectedTenant.id} tenant={selectedTenant} /> : null}
    </div>
  );
}

function CreateTenant({ onCreated }: { onCreated: (created: CreatedTenant) => void }) {
  const [name, setName] = useState('');
  const [ownerLogin, setOwnerLogin] = useState('');
  const [created, setCreated] = useState<CreatedTenant | null>(null);
  const action = useAction();
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    await action.run(async () => {
      const result = await api.post<CreatedTenant>('/v1/tenants', { name: name.trim(), ...(ownerLogin.trim() ? { owner: { login: ownerLogin.trim() } } : {}) });
      setCreated(result);
      setName('');
      setOwnerLogin('');
      onCreated(result);
    });
  };
  return (
    <Section title="Create a tenant">
      <form className="inline-form" onSubmit={submit}>
        <label>
          Tenant name
          <input name="tenantName" required value={name} onChange={(event) => setName(event.target.value)} placeholder="acme" />
        </label>
        <label>
          Owner login (optional)
          <input name="ownerLogin" value={ownerLogin} onChange={(event) => setOwnerLogin(event.target.value)} placeholder="alice@acme" />
        </label>
        <button type="submit" disabled={action.busy}>
          Create tenant
        </button>
      </form>
      <ErrorMessage error={action.error} />
      {created ? (
        <div className="secret" role="status" aria-label="New tenant credentials">
          <p>
            Tenant <strong>{created.tenant.name}</strong> created. Its owner API key is shown only now:
          </p>
          <code aria-label="Owner API key">{created.ownerApiKey.apiKey}</code>
          {created.ownerUser?.initialPassword ? (
            <p>
              Owner <strong>{created.ownerUser.login}</strong>, one-time password: <code>{created.ownerUser.initialPassword}</code>
            </p>
          ) : null}
        </div>
      ) : null}
    </Section>
  );
}

function TenantActions({ tenant, onChanged, onManage }: { tenant: TenantView; onChanged: (tenant: TenantView) => void; onManage: () => void }) {
  const action = useAction();
  const verb = tenant.status === 'active' ? 'suspend' : 'resume';
  return (
    <div className="actions">
      <button type="button" aria-label={`Quotas and plan of tenant ${tenant.name}`} onClick={onManage}>
        Quotas &amp; plan
      </button>
      <button
        type="button"
        className={verb === 'suspend' ? 'warn' : ''}
        disabled={action.busy}
        aria-label={`${verb === 'suspend' ? 'Suspend' : 'Resume'} tenant ${tenant.name}`}
        onClick={() => void action.run(async () => onChanged(await api.post<TenantView>(`/v1/tenants/${tenant.id}/${verb}`)))}
      >
        {verb === 'suspend' ? 'Suspend' : 'Resume'}
      </button>
      <ErrorMessage error={action.error} />
    </div>
  );
}

const QUOTA_FIELDS: Array<{ key: keyof Quotas['limits']; label: string }> = [
  { key: 'cpuMillis', label: 'CPU (millicores)' },
  { key: 'memoryMiB', label: 'Memory (MiB)' },
  { key: 'workloads', label: 'Workloads' },
  { key: 'vms', label: 'VMs' },
];

function TenantSettings({ tenant }: { tenant: TenantView }) {
  const quotas = useApi<Quotas>(`/v1/admin/tenants/${tenant.id}/quotas`);
  const plans = useApi<Page<Plan>>('/v1/admin/plans');
  const [draft, setDraft] = useState<Record<string, string>>({});
  const [planId, setPlanId] = useState('');
  const [assigned, setAssigned] = useState<PlanAssignment | null>(null);
  const save = useAction();
  const setPlan = useAction();

  const submitQuotas = async (event: FormEvent) => {
    event.preventDefault();
    const body: Record<string, number | null> = {};
    for (const { key } of QUOTA_FIELDS) {
      const value = draft[key];
      if (value === undefined) continue;
      body[key] = value.trim() === '' ? null : Number(value);
    }
    await save.run(async () => {
      quotas.setData(() => null);
      const updated = await api.put<Quotas>(`/v1/admin/tenants/${tenant.id}/quotas`, body);
      quotas.setData(() => updated);
      setDraft({});
    });
  };

  return (
    <Section title={`Quotas and plan of ${tenant.name}`}>
      <ErrorMessage error={quotas.error} feature="Compute quotas" />
      {quotas.data ? (
        <>
          <BarChart
            title="Quota use"
            bars={[
              { label: 'CPU', value: quotas.data.used.cpuMillis, max: quotas.data.limits.cpuMillis, text: `${formatCpu(quotas.data.used.cpuMillis)} / ${formatCpu(quotas.data.limits.cpuMillis)}` },
              { label: 'Memory', value: quotas.data.used.memoryMiB, max: quotas.data.limits.memoryMiB, text: `${formatMiB(quotas.data.used.memoryMiB)} / ${formatMiB(quotas.data.limits.memoryMiB)}` },
              { label: 'Processes', value: quotas.data.used.pids, max: quotas.data.limits.pids, text: `${quotas.data.used.pids} / ${quotas.data.limits.pids}` },
              { label: 'Workloads', value: quotas.data.used.workloads, max: quotas.data.limits.workloads, text: `${quotas.data.used.workloads} / ${quotas.data.limits.workloads}` },
              { label: 'VMs', value: quotas.data.used.vms, max: quotas.data.limits.vms, text: `${quotas.data.used.vms} / ${quotas.data.limits.vms}` },
            ]}
          />
          <form className="inline-form" onSubmit={submitQuotas} aria-label={`Quotas of tenant ${tenant.name}`}>
            {QUOTA_FIELDS.map(({ key, label }) => (
              <label key={key}>
                {label}
                <input
                  type="number"
                  min={0}
                  name={key}
                  placeholder={String(quotas.data?.limits[key] ?? '')}
                  value={draft[key] ?? ''}
                  onChange={(event) => setDraft((current) => ({ ...current, [key]: event.target.value }))}
                />
              </label>
            ))}
            <button type="submit" disabled={save.busy}>
              Save quotas
            </button>
          </form>
          <p className="small muted">Fields you leave untouched stay as they are; a field you type in and then empty resets that limit to the platform default.</p>
        </>
      ) : null}
      <ErrorMessage error={save.error} feature="Compute quotas" />
      <h3>Price plan</h3>
      <ErrorMessage error={plans.error} feature="Price plans" />
      {plans.data ? (
        <form
          className="inline-form"
          onSubmit={(event) => {
            event.preventDefault();
            void setPlan.run(async () => setAssigned(await api.put<PlanAssignment>(`/v1/admin/tenants/${tenant.id}/plan`, { planId })));
          }}
        >
          <label>
            Plan
            <select name="planId" aria-label="Plan" required value={planId} onChange={(event) => { setPlan.clear(); setPlanId(event.target.value); }}>
              <option value="">Choose a plan…</option>
              {plans.data.items.map((plan) => (
                <option key={plan.id} value={plan.id}>
                  {plan.name} ({plan.currency})
                </option>
              ))}
            </select>
          </label>
          <button type="submit" disabled={setPlan.busy || !planId}>
            Set plan
          </button>
        </form>
      ) : null}
      <ErrorMessage error={setPlan.error} feature="Price plans" />
      {assigned ? (
        <p role="status" className="ok">
          {tenant.name} is on {plans.data?.items.find((plan) => plan.id === assigned.planId)?.name ?? assigned.planId} ({assigned.currency}) from {formatTime(assigned.effectiveFrom)}.
        </p>
      ) : null}
    </Section>
  );
}
