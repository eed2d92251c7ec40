import { useState } from 'react';
import { api, query } from '../api/client';
import type { ImageRepository, Page, TenantView } from '../api/types';
import { BarChart } from '../components/bar-chart';
import { ErrorMessage, formatBytes, Loading, Section, useAction, useApi } from '../components/common';

interface ImagesAnswer extends Page<ImageRepository> {
  usedBytes?: number;
  quotaBytes?: number | null;
}

/** Registry storage per tenant and garbage collection (the registry's HTTP admin routes, where deployed). */
export function ImagesPage() {
  const tenants = useApi<Page<TenantView>>('/v1/tenants?limit=500');
  const [tenantId, setTenantId] = useState('');
  const images = useApi<ImagesAnswer>(`/v1/admin/images${query({ tenantId })}`);
  const gc = useAction();
  const [report, setReport] = useState<unknown>(null);
  return (
    <div className="page">
      <h1>Images</h1>
      <Section
        title="Registry"
        actions={
          <button type="button" aria-label="Run registry garbage collection" disabled={gc.busy} onClick={() => void gc.run(async () => setReport(await api.post('/v1/admin/registry/gc', {})))}>
            {gc.busy ? 'Collecting…' : 'Run GC'}
          </button>
        }
      >
        <ErrorMessage error={gc.error} feature="Registry garbage collection" />
        {report ? (
          <pre className="small" aria-label="Garbage collection report">
            {JSON.stringify(report, null, 2)}
          </pre>
        ) : null}
        <form className="inline-form" onSubmit={(event) => event.preventDefault()}>
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
        </form>
        {images.loading && !images.data ? <Loading what="images" /> : null}
        <ErrorMessage error={images.error} feature="Image storage per tenant" />
        {images.data ? (
          <>
            {images.data.usedBytes !== undefined && images.data.quotaBytes ? (
              <BarChart title="Storage used of quota" bars={[{ label: 'Storage', value: images.data.usedBytes, max: images.data.quotaBytes, text: `${formatBytes(images.data.usedBytes)} / ${formatBytes(images.data.quotaBytes)}` }]} />
            ) : null}
            <div className="table-wrap">
              <table aria-label="Repositories">
                <thead>
                  <tr>
                    <th scope="col">Repository</th>
                    <th scope="col">Tags</th>
                    <th scope="col">Stored</th>
                  </tr>
                </thead>
                <tbody>
                  {images.data.items.map((repository, index) => (
                    <tr key={`${repository.repository ?? repository.name ?? index}`}>
                      <td>{repository.repository ?? repository.name ?? '—'}</td>
                      <td className="small">{(repository.tags ?? []).join(', ') || '—'}</td>
                      <td>{repository.bytes !== undefined ? formatBytes(repository.bytes) : '—'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </>
        ) : null}
      </Section>
    </div>
  );
}
