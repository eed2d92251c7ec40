import { useState } from 'react';
import { api, query } from '../api/client';
import type { AuditEntry, Page, TenantView } from '../api/types';
import { ErrorMessage, formatTime, Loading, Section, StateBadge, useAction, useApi } from '../components/common';

export function AuditPage() {
  const tenants = useApi<Page<TenantView>>('/v1/tenants?limit=500');
  const [tenantId, setTenantId] = useState('');
  const [action, setAction] = useState('');
  const [result, setResult] = useState('');
  const path = `/v1/admin/audit${query({ tenantId, action: action.trim(), result, limit: 100 })}`;
  const page = useApi<Page<AuditEntry>>(path);
  const more = useAction();
  const tenantNames = new Map((tenants.data?.items ?? []).map((tenant) => [tenant.id, tenant.name]));
  const loadMore = () =>
    void more.run(async () => {
      const cursor = page.data?.nextCursor;
      if (!cursor) return;
      const next = await api.get<Page<AuditEntry>>(`/v1/admin/audit${query({ tenantId, action: action.trim(), result, limit: 100, cursor })}`);
      page.setData((current) => ({ items: [...(current?.items ?? []), ...next.items], nextCursor: next.nextCursor ?? null }));
    });
  return (
    <div className="page">
      <h1>Audit log</h1>
      <Section title="Filters">
        <form className="inline-form" onSubmit={(event) => event.preventDefault()} aria-label="Audit filters">
          <label>
            Tenant
            <select name="tenant" aria-label="Tenant" value={tenantId} onChange={(event) => setTenantId(event.target.value)}>
              <option value="">All tenants</option>
              {(tenants.data?.items ?? []).map((tenant) => (
                <option key={tenant.id} value={tenant.id}>
                  {tenant.name}
                </option>
              ))}
            </select>
          </label>
          <label>
            Action
            <input name="action" value={action} placeholder="createWorkload" onChange={(event) => setAction(event.target.value)} />
          </label>
          <label>
            Result
            <select name="result" aria-label="Result" value={result} onChange={(event) => setResult(event.target.value)}>
              <option value="">Any result</option>
              <option value="success">success</option>
              <option value="failure">failure</option>
            </select>
          </label>
        </form>
      </Section>
      <Section title="Entries, newest first">
        {page.loading && !page.data ? <Loading what="the audit log" /> : null}
        <ErrorMessage error={page.error} feature="The audit log" />
        {page.data ? (
          <div className="table-wrap">
            <table aria-label="Audit entries">
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Who</th>
                  <th scope="col">Tenant</th>
                  <th scope="col">Action</th>
                  <th scope="col">Target</th>
                  <th scope="col">Result</th>
                </tr>
              </thead>
              <tbody>
                {page.data.items.map((entry) => (
                  <tr key={entry.id}>
                    <td className="small">{formatTime(entry.at)}</td>
                    <td className="small">
                      {entry.role ?? '—'} {entry.principalKind ?? ''} {entry.principalId?.slice(0, 8) ?? ''}
                    </td>
                    <td className="small">{entry.tenantId ? (tenantNames.get(entry.tenantId) ?? entry.tenantId.slice(0, 8)) : '—'}</td>
                    <td>{entry.action}</td>
                    <td className="small">{entry.target ?? '—'}</td>
                    <td>
                      <StateBadge state={entry.result} /> <span className="small">{entry.status}</span>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : null}
        <ErrorMessage error={more.error} />
        {page.data?.nextCursor ? (
          <button type="button" onClick={loadMore} disabled={more.busy}>
            Load more
          </button>
        ) : null}
      </Section>
    </div>
  );
}
