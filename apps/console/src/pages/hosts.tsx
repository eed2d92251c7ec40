import { useEffect, useRef } from 'react';
import { api } from '../api/client';
import type { HostView, Page, WorkloadPage } from '../api/types';
import { BarChart } from '../components/bar-chart';
import { ErrorMessage, formatCpu, formatMiB, formatTime, Loading, Section, StateBadge, useAction, useApi } from '../components/common';
import { useHostEvents, useWorkloadEvents } from '../live';
import { Link } from '../router';

type HostAction = 'cordon' | 'uncordon' | 'drain' | 'maintenance';
const ACTIONS: Array<{ action: HostAction; label: string; when: (host: HostView) => boolean }> = [
  { action: 'cordon', label: 'Cordon', when: (host) => host.state === 'ready' },
  { action: 'uncordon', label: 'Uncordon', when: (host) => host.state === 'cordoned' || host.state === 'maintenance' || (host.state === 'draining' && !!host.drain?.done) },
  { action: 'drain', label: 'Drain', when: (host) => host.state === 'ready' || host.state === 'cordoned' },
  { action: 'maintenance', label: 'Maintenance', when: (host) => host.state !== 'maintenance' && host.state !== 'decommissioned' && host.state !== 'lost' && host.state !== 'unreachable' },
];

function percent(part: number, whole: number): string {
  return whole > 0 ? `${Math.round((part / whole) * 100)}%` : '—';
}

function HostActions({ host, onDone }: { host: HostView; onDone: (host: HostView) => void }) {
  const action = useAction();
  return (
    <div className="actions">
      {ACTIONS.filter((entry) => entry.when(host)).map((entry) => (
        <button
          key={entry.action}
          type="button"
          className={entry.action === 'drain' || entry.action === 'maintenance' ? 'warn' : ''}
          disabled={action.busy}
          aria-label={`${entry.label} host ${host.id}`}
          onClick={() => void action.run(async () => onDone(await api.post<HostView>(`/v1/admin/hosts/${encodeURIComponent(host.id)}/${entry.action}`)))}
        >
          {entry.label}
        </button>
      ))}
      <ErrorMessage error={action.error} feature="Host operations" />
    </div>
  );
}

function DrainProgress({ host }: { host: HostView }) {
  if (!host.drain) return null;
  const moved = host.drain.total - host.drain.remaining;
  return (
    <div className="drain">
      <progress max={Math.max(host.drain.total, 1)} value={host.drain.total === 0 ? 1 : moved} aria-label={`Drain progress of host ${host.id}`} />
      <span className="small">{host.drain.done ? `drained (${host.drain.total} moved)` : `${moved} of ${host.drain.total} workloads moved`}</span>
      {host.drain.blocked && host.drain.blocked.length > 0 ? (
        <ul className="small muted" aria-label={`Workloads blocking the drain of host ${host.id}`}>
          {host.drain.blocked.map((blocked) => (
            <li key={blocked.workloadId}>
              {blocked.workloadId.slice(0, 8)}: {blocked.reason}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

export function HostsPage() {
  const hosts = useApi<Page<HostView>>('/v1/admin/hosts');
  // A host event (evt.host.state.v1) changes the row's state at once, then the row is re-read
  // for its allocation and drain progress. Workload transitions change allocation (placement,
  // stop, drain moves): the list is re-read once per burst, so utilisation stays live.
  const pendingReload = useRef<ReturnType<typeof setTimeout> | null>(null);
  const reloadSoon = () => {
    pendingReload.current ??= setTimeout(() => {
      pendingReload.current = null;
      hosts.reload();
    }, 500);
  };
  useEffect(() => () => clearTimeout(pendingReload.current ?? undefined), []);
  useHostEvents((event) => {
    const hostId = typeof event.hostId === 'string' ? event.hostId : null;
    const to = typeof event.to === 'string' ? (event.to as HostView['state']) : null;
    if (hostId && to) hosts.setData((page) => (page ? { ...page, items: page.items.map((host) => (host.id === hostId ? { ...host, state: to } : host)) } : page));
    reloadSoon();
  });
  useWorkloadEvents(() => reloadSoon());
  const replace = (updated: HostView) => hosts.setData((page) => (page ? { ...page, items: page.items.map((host) => (host.id === updated.id ? updated : host)) } : page));
  return (
    <div className="page">
      <h1>Hosts</h1>
      <Section title="Compute hosts" actions={<button type="button" onClick={hosts.reload} aria-label="Refresh hosts">Refresh</button>}>
        {hosts.loading && !hosts.data ? <Loading what="hosts" /> : null}
        <ErrorMessage error={hosts.error} feature="Host inventory" />
        {hosts.data ? (
          <div className="table-wrap">
            <table aria-label="Hosts">
              <thead>
                <tr>
                  <th scope="col">Host</th>
                  <th scope="col">State</th>
                  <th scope="col">CPU allocated</th>
                  <th scope="col">Memory allocated</th>
                  <th scope="col">Workloads</th>
                  <th scope="col">Last heartbeat</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {hosts.data.items.map((host) => (
                  <tr key={host.id} data-host-id={host.id}>
                    <td>
                      <Link to={`/hosts/${encodeURIComponent(host.id)}`}>{host.id}</Link>
                      <div className="small muted">{host.drivers.join(', ')}</div>
                    </td>
                    <td>
                      <StateBadge state={host.state} />
                      <DrainProgress host={host} />
                    </td>
                    <td>
                      {formatCpu(host.allocated.cpuMillis)} / {formatCpu(host.capacity.cpuMillis)} ({percent(host.allocated.cpuMillis, host.capacity.cpuMillis)})
                    </td>
                    <td>
                      {formatMiB(host.allocated.memoryMiB)} / {formatMiB(host.capacity.memoryMiB)} ({percent(host.allocated.memoryMiB, host.capacity.memoryMiB)})
                    </td>
                    <td>{host.workloadCount}</td>
                    <td>{formatTime(host.lastHeartbeatAt)}</td>
                    <td>
                      <HostActions host={host} onDone={replace} />
                    </td>
                  </tr>
                ))}
                {hosts.data.items.length === 0 ? (
                  <tr>
                    <td colSpan={7} className="muted">
                      No hosts have joined.
                    </td>
                  </tr>
                ) : null}
              </tbody>
            </table>
          </div>
        ) : null}
      </Section>
    </div>
  );
}

export function HostDetailPage({ id }: { id: string }) {
  const host = useApi<HostView>(`/v1/admin/hosts/${encodeURIComponent(id)}`);
  const workloads = useApi<WorkloadPage>(`/v1/admin/workloads?hostId=${encodeURIComponent(id)}&limit=500`);
  useHostEvents(() => host.reload());
  useWorkloadEvents((change) => {
    if (change.hostId === id || workloads.data?.items.some((item) => item.id === change.workloadId)) {
      workloads.reload();
      host.reload();
    }
  });
  return (
    <div className="page">
      <p>
        <Link to="/hosts">← All hosts</Link>
      </p>
      <h1>Host {id}</h1>
      <ErrorMessage error={host.error} feature="Host inventory" />
      {host.data ? (
        <Section title="State" actions={<HostActions host={host.data} onDone={(updated) => host.setData(() => updated)} />}>
          <dl className="stats">
            <div>
              <dt>State</dt>
              <dd>
                <StateBadge state={host.data.state} />
              </dd>
            </div>
            <div>
              <dt>Drivers</dt>
              <dd>{host.data.drivers.join(', ') || '—'}</dd>
            </div>
            <div>
              <dt>Labels</dt>
              <dd className="small">{Object.entries(host.data.labels).map(([key, value]) => `${key}=${value}`).join(', ') || '—'}</dd>
            </div>
            <div>
              <dt>Last heartbeat</dt>
              <dd className="small">{formatTime(host.data.lastHeartbeatAt)}</dd>
            </div>
          </dl>
          <DrainProgress host={host.data} />
          <BarChart
            title="Utilisation"
            bars={[
              { label: 'CPU', value: host.data.allocated.cpuMillis, max: host.data.capacity.cpuMillis, text: `${formatCpu(host.data.allocated.cpuMillis)} / ${formatCpu(host.data.capacity.cpuMillis)}` },
              { label: 'Memory', value: host.data.allocated.memoryMiB, max: host.data.capacity.memoryMiB, text: `${formatMiB(host.data.allocated.memoryMiB)} / ${formatMiB(host.data.capacity.memoryMiB)}` },
              { label: 'PIDs', value: host.data.allocated.pids, max: host.data.capacity.pids, text: `${host.data.allocated.pids} / ${host.data.capacity.pids}` },
            ]}
          />
        </Section>
      ) : null}
      <Section title="Workloads on this host">
        <ErrorMessage error={workloads.error} feature="Workloads across tenants" />
        {workloads.data ? (
          <ul>
            {workloads.data.items.map((workload) => (
              <li key={workload.id}>
                <Link to={`/workloads/${workload.id}`}>{workload.name}</Link> <StateBadge state={workload.state} /> <span className="small muted">tenant {workload.tenantId}</span>
              </li>
            ))}
            {workloads.data.items.length === 0 ? <li className="muted">None.</li> : null}
          </ul>
        ) : null}
      </Section>
    </div>
  );
}
