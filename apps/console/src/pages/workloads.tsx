import { useMemo, useState, type FormEvent } from 'react';
import { WORKLOAD_STATE_NAMES } from '../api/states';
import { api, query } from '../api/client';
import type { HostView, MigrationView, Page, TenantView, WorkloadEventList, WorkloadPage, WorkloadStateChanged, WorkloadView } from '../api/types';
import { ErrorMessage, formatBytes, formatCpu, formatMiB, formatTime, Loading, Section, StateBadge, useAction, useApi } from '../components/common';
import { useWorkloadEvents } from '../live';
import { Link } from '../router';

interface Filters {
  tenantId: string;
  hostId: string;
  state: string;
  kind: string;
}

function matches(filters: Filters, workload: Pick<WorkloadView, 'tenantId' | 'hostId' | 'state' | 'kind'>): boolean {
  return (
    (!filters.tenantId || workload.tenantId === filters.tenantId) &&
    (!filters.hostId || workload.hostId === filters.hostId) &&
    (!filters.state || workload.state === filters.state) &&
    (!filters.kind || workload.kind === filters.kind)
  );
}

/** Workloads of every tenant; rows follow the event stream without a reload. */
export function WorkloadsPage() {
  const [filters, setFilters] = useState<Filters>({ tenantId: '', hostId: '', state: '', kind: '' });
  const path = `/v1/admin/workloads${query({ ...filters, limit: 200 })}`;
  const workloads = useApi<WorkloadPage>(path);
  const tenants = useApi<Page<TenantView>>('/v1/tenants?limit=500');
  const hosts = useApi<Page<HostView>>('/v1/admin/hosts');
  const tenantNames = useMemo(() => new Map((tenants.data?.items ?? []).map((tenant) => [tenant.id, tenant.name])), [tenants.data]);

  useWorkloadEvents((change: WorkloadStateChanged) => {
    const known = workloads.data?.items.some((item) => item.id === change.workloadId);
    if (known) {
      workloads.setData((page) =>
        page
          ? {
              ...page,
              items: page.items
                .map((item): WorkloadView => (item.id === change.workloadId ? { ...item, state: change.to, hostId: change.hostId, reason: change.reason, generation: change.generation, updatedAt: change.at } : item))
                .filter((item) => item.state !== 'deleted' || filters.state === 'deleted'),
            }
          : page,
      );
      return;
    }
    if (change.to === 'deleted') return;
    // A workload this page has not seen: fetch it, and show it if it passes the filters.
    void api
      .get<WorkloadView>(`/v1/admin/workloads/${change.workloadId}`)
      .then((workload) => {
        if (!matches(filters, workload)) return;
        workloads.setData((page) => (page && !page.items.some((item) => item.id === workload.id) ? { ...page, items: [...page.items, workload] } : page));
      })
      .catch(() => undefined);
  });

  const set = (key: keyof Filters) => (value: string) => setFilters((current) => ({ ...current, [key]: value }));
  return (
    <div className="page">
      <h1>Workloads</h1>
      <Section title="Filters">
        <form className="inline-form" onSubmit={(event) => event.preventDefault()} aria-label="Workload filters">
          <label>
            Tenant
            <select name="tenant" aria-label="Tenant" value={filters.tenantId} onChange={(event) => set('tenantId')(event.target.value)}>
              <option value="">All tenants</option>
              {(tenants.data?.items ?? []).map((tenant) => (
                <option key={tenant.id} value={tenant.id}>
                  {tenant.name}
                </option>
              ))}
            </select>
          </label>
          <label>
            Host
            <select name="host" aria-label="Host" value={filters.hostId} onChange={(event) => set('hostId')(event.target.value)}>
              <option value="">All hosts</option>
              {(hosts.data?.items ?? []).map((host) => (
                <option key={host.id} value={host.id}>
                  {host.id}
                </option>
              ))}
            </select>
          </label>
          <label>
            State
            <select name="state" aria-label="State" value={filters.state} onChange={(event) => set('state')(event.target.value)}>
              <option value="">Any state</option>
              {WORKLOAD_STATE_NAMES.map((state) => (
                <option key={state} value={state}>
                  {state}
                </option>
              ))}
            </select>
          </label>
          <label>
            Kind
            <select name="kind" aria-label="Kind" value={filters.kind} onChange={(event) => set('kind')(event.target.value)}>
              <option value="">Any kind</option>
              <option value="container">container</option>
              <option value="vm">vm</option>
            </select>
          </label>
        </form>
      </Section>
      <Section title="Workloads across tenants" actions={<button type="button" onClick={workloads.reload} aria-label="Refresh workloads">Refresh</button>}>
        {workloads.loading && !workloads.data ? <Loading what="workloads" /> : null}
        <ErrorMessage error={workloads.error} feature="Workloads across tenants" />
        {workloads.data ? (
          <div className="table-wrap">
            <table aria-label="Workloads">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Tenant</th>
                  <th scope="col">Kind</th>
                  <th scope="col">State</th>
                  <th scope="col">Host</th>
                  <th scope="col">Resources</th>
                  <th scope="col">Updated</th>
                </tr>
              </thead>
              <tbody>
                {workloads.data.items.map((workload) => (
                  <tr key={workload.id} data-workload-id={workload.id}>
                    <td>
                      <Link to={`/workloads/${workload.id}`}>{workload.name}</Link>
                    </td>
                    <td>{tenantNames.get(workload.tenantId) ?? workload.tenantId.slice(0, 8)}</td>
                    <td>{workload.kind}</td>
                    <td>
                      <StateBadge state={workload.state} />
                      {workload.reason ? <div className="small muted">{workload.reason}</div> : null}
                    </td>
                    <td>{workload.hostId ?? '—'}</td>
                    <td className="small">
                      {formatCpu(workload.resources.cpuMillis)}, {formatMiB(workload.resources.memoryMiB)}
                    </td>
                    <td className="small">{formatTime(workload.updatedAt)}</td>
                  </tr>
                ))}
                {workloads.data.items.length === 0 ? (
                  <tr>
                    <td colSpan={7} className="muted">
                      No workloads match.
                    </td>
                  </tr>
                ) : null}
              </tbody>
            </table>
          </div>
        ) : null}
        {workloads.data?.nextCursor ? <p className="small muted">Showing the first 200; narrow the filters to see others.</p> : null}
      </Section>
    </div>
  );
}

export function WorkloadDetailPage({ id }: { id: string }) {
  const workload = useApi<WorkloadView>(`/v1/admin/workloads/${id}`);
  const events = useApi<WorkloadEventList>(`/v1/admin/workloads/${id}/events`);
  const action = useAction();
  const [targetHostId, setTargetHostId] = useState('');
  const [mode, setMode] = useState<'live' | 'cold'>('live');
  const [migration, setMigration] = useState<MigrationView | null>(null);
  useWorkloadEvents((change) => {
    if (change.workloadId !== id) return;
    // The event has the state; the desired state and exit code come with the workload itself.
    workload.setData((current) => (current ? { ...current, state: change.to, hostId: change.hostId, reason: change.reason, updatedAt: change.at } : current));
    workload.reload();
    events.setData((current) => (current ? { items: [...current.items, { from: change.from, to: change.to, reason: change.reason, at: change.at, hostId: change.hostId }] } : current));
  });

  const act = (verb: 'stop' | 'start' | 'delete') =>
    action.run(async () => {
      const updated = verb === 'delete' ? await api.delete<WorkloadView>(`/v1/admin/workloads/${id}`) : await api.post<WorkloadView>(`/v1/admin/workloads/${id}/${verb}`);
      if (updated) workload.setData(() => updated);
    });
  const migrate = (event: FormEvent) => {
    event.preventDefault();
    setMigration(null);
    // The api answers when the migration has ended; meanwhile the `migrating` state arrives live.
    void action.run(async () => {
      const result = await api.post<MigrationView>(`/v1/admin/workloads/${id}/migrate`, { mode, ...(targetHostId.trim() ? { targetHostId: targetHostId.trim() } : {}) });
      setMigration(result);
      workload.setData(() => result.workload);
    });
  };

  const current = workload.data;
  return (
    <div className="page">
      <p>
        <Link to="/workloads">← All workloads</Link>
      </p>
      <h1>Workload {current?.name ?? id}</h1>
      <ErrorMessage error={workload.error} feature="Workloads across tenants" />
      {current ? (
        <Section
          title="Details"
          actions={
            <div className="actions">
              <button type="button" aria-label={`Stop workload ${current.name}`} disabled={action.busy} onClick={() => void act('stop')}>
                Stop
              </button>
              <button type="button" aria-label={`Start workload ${current.name}`} disabled={action.busy} onClick={() => void act('start')}>
                Start
              </button>
              <button type="button" className="danger" aria-label={`Delete workload ${current.name}`} disabled={action.busy} onClick={() => void act('delete')}>
                Delete
              </button>
            </div>
          }
        >
          <ErrorMessage error={action.error} feature="Operator workload actions" />
          <dl className="stats">
            <div>
              <dt>State</dt>
              <dd>
                <StateBadge state={current.state} /> <span className="small muted">wants {current.desiredState}</span>
              </dd>
            </div>
            <div>
              <dt>Host</dt>
              <dd>{current.hostId ? <Link to={`/hosts/${encodeURIComponent(current.hostId)}`}>{current.hostId}</Link> : '—'}</dd>
            </div>
            <div>
              <dt>Tenant</dt>
              <dd className="small">{current.tenantId}</dd>
            </div>
            <div>
              <dt>Image</dt>
              <dd className="small">{current.image}</dd>
            </div>
            <div>
              <dt>Resources</dt>
              <dd className="small">
                {formatCpu(current.resources.cpuMillis)}, {formatMiB(current.resources.memoryMiB)}, {current.resources.pids} pids
              </dd>
            </div>
            <div>
              <dt>Reason / exit code</dt>
              <dd className="small">
                {current.reason ?? '—'} / {current.exitCode ?? '—'}
              </dd>
            </div>
          </dl>
          {String(current.kind) === 'vm' ? (
            <form className="inline-form" onSubmit={migrate} aria-label="Migrate this VM">
              <label>
                Target host (empty: the scheduler chooses)
                <input name="targetHostId" value={targetHostId} onChange={(event) => setTargetHostId(event.target.value)} />
              </label>
              <label>
                Mode
                <select name="mode" aria-label="Migration mode" value={mode} onChange={(event) => setMode(event.target.value === 'cold' ? 'cold' : 'live')}>
                  <option value="live">live</option>
                  <option value="cold">cold</option>
                </select>
              </label>
              <button type="submit" disabled={action.busy || current.state === 'migrating'}>
                {current.state === 'migrating' ? 'Migrating…' : 'Migrate'}
              </button>
              {migration ? (
                <p role="status" className={migration.status === 'completed' ? 'ok' : 'problem'}>
                  {migration.mode} migration {migration.status}: {migration.sourceHostId} → {migration.targetHostId}
                  {migration.totalTimeMs !== null ? `, ${(migration.totalTimeMs / 1000).toFixed(1)} s` : ''}
                  {migration.downtimeMs !== null ? `, downtime ${migration.downtimeMs} ms` : ''}
                  {migration.transferredBytes !== null ? `, ${formatBytes(migration.transferredBytes)} moved` : ''}
                  {migration.error ? ` (${migration.error})` : ''}
                </p>
              ) : null}
            </form>
          ) : null}
        </Section>
      ) : workload.loading ? (
        <Loading what="the workload" />
      ) : null}
      <Section title="Event history">
        <ErrorMessage error={events.error} feature="Workload history" />
        {events.data ? (
          <ol className="timeline" aria-label="State transitions">
            {events.data.items.map((event, index) => (
              <li key={`${event.at}-${index}`}>
                <span className="small muted">{formatTime(event.at)}</span> {event.from ? <StateBadge state={event.from} /> : <span className="muted">new</span>} → <StateBadge state={event.to} />
                {event.hostId ? <span className="small muted"> on {event.hostId}</span> : null}
                {event.reason ? <span className="small"> ({event.reason})</span> : null}
              </li>
            ))}
          </ol>
        ) : null}
      </Section>
    </div>
  );
}
