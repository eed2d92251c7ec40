import { useState } from 'react';
import { api, query } from '../api/client';
import type { GcReport, ImageList, Page, TenantView } from '../api/types';
import { BarChart } from '../components/bar-chart';
import { ErrorMessage, formatBytes, formatTime, Loading, Section, useAction, useApi } from '../components/common';

/**
 * Registry storage per tenant (`GET /v1/admin/images?tenantId=`: repositories, tags, bytes,
 * storage used vs quota) and garbage collection now (`POST /v1/admin/registry/gc`).
 */
export function ImagesPage() {
  const tenants = useApi<Page<TenantView>>('/v1/tenants?limit=500');
  const [tenantId, setTenantId] = useState('');
  // Each collection changes what tenants store: the tenant's images are read again after it.
  const [collections, setCollections] = useState(0);
  return (
    <div className="page">
      <h1>Images</h1>
      <GcSection onCollected={() => setCollections((count) => count + 1)} />
      <Section title="Images per tenant">
        <form className="inline-form" onSubmit={(event) => event.preventDefault()}>
          <label>
            Tenant
            <select name="tenant" aria-label="Images of tenant" value={tenantId} onChange={(event) => setTenantId(event.target.value)}>
              <option value="">Choose a tenant…</option>
              {(tenants.data?.items ?? []).map((tenant) => (
                <option key={tenant.id} value={tenant.id}>
                  {tenant.name}
                </option>
              ))}
            </select>
          </label>
        </form>
        <ErrorMessage error={tenants.error} feature="Tenants" />
        {tenantId ? <TenantImages key={`${tenantId}#${collections}`} tenantId={tenantId} tenantName={tenants.data?.items.find((tenant) => tenant.id === tenantId)?.name ?? tenantId} /> : <p className="muted">Choose a tenant to see its repositories and storage.</p>}
      </Section>
    </div>
  );
}

function GcSection({ onCollected }: { onCollected: () => void }) {
  const gc = useAction();
  const [graceNow, setGraceNow] = useState(false);
  const [report, setReport] = useState<GcReport | null>(null);
  const run = () =>
    void gc.run(async () => {
      setReport(null);
      setReport(await api.post<GcReport>('/v1/admin/registry/gc', graceNow ? { gracePeriodSeconds: 0 } : {}));
      onCollected();
    });
  return (
    <Section
      title="Registry garbage collection"
      actions={
        <button type="button" aria-label="Run registry garbage collection" disabled={gc.busy} onClick={run}>
          {gc.busy ? 'Collecting…' : 'Run GC'}
        </button>
      }
    >
      <label className="checkbox">
        <input type="checkbox" name="graceNow" checked={graceNow} onChange={(event) => setGraceNow(event.target.checked)} />
        Collect everything unreferenced now (no grace period)
      </label>
      <ErrorMessage error={gc.error} feature="Registry garbage collection" />
      {report ? (
        <dl className="stats" aria-label="Garbage collection report" role="status">
          <div>
            <dt>Freed</dt>
            <dd>{formatBytes(report.bytesFreed)}</dd>
          </div>
          <div>
            <dt>Blobs deleted</dt>
            <dd>{report.blobsDeleted}</dd>
          </div>
          <div>
            <dt>Manifests deleted</dt>
            <dd>{report.manifestsDeleted}</dd>
          </div>
          <div>
            <dt>Links deleted</dt>
            <dd>{report.linksDeleted}</dd>
          </div>
          <div>
            <dt>Uploads expired</dt>
            <dd>{report.uploadsExpired}</dd>
          </div>
        </dl>
      ) : null}
    </Section>
  );
}

function TenantImages({ tenantId, tenantName }: { tenantId: string; tenantName: string }) {
  const images = useApi<ImageList>(`/v1/admin/images${query({ tenantId })}`);
  if (images.loading && !images.data) return <Loading what="images" />;
  if (images.error) return <ErrorMessage error={images.error} feature="Image storage per tenant" />;
  if (!images.data) return null;
  const { storage, items } = images.data;
  return (
    <>
      <BarChart title={`Registry storage of ${tenantName}, used of quota`} bars={[{ label: 'Storage', value: storage.usedBytes, max: storage.quotaBytes, text: `${formatBytes(storage.usedBytes)} / ${formatBytes(storage.quotaBytes)}` }]} />
      <div className="table-wrap">
        <table aria-label={`Repositories of ${tenantName}`}>
          <thead>
            <tr>
              <th scope="col">Repository</th>
              <th scope="col">Tags</th>
              <th scope="col">Stored</th>
              <th scope="col">Visibility</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {items.map((repository) => (
              <tr key={repository.name}>
                <td>{repository.name}</td>
                <td className="small">{repository.tags.map((tag) => (tag.artifactType?.includes('vm') ? `${tag.name} (VM)` : tag.name)).join(', ') || '—'}</td>
                <td>{formatBytes(repository.bytes)}</td>
                <td>{repository.public ? 'public' : 'private'}</td>
                <td className="small">{formatTime(repository.createdAt)}</td>
              </tr>
            ))}
            {items.length === 0 ? (
              <tr>
                <td colSpan={5} className="muted">
                  No repositories.
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
      </div>
    </>
  );
}
