import type { BillingSummary, HostView, Page, Plan, UsageReply, WorkloadPage, WorkloadView } from '../api/types';
import { BarChart } from '../components/bar-chart';
import { ErrorMessage, formatCpu, formatMiB, Loading, Section, StateBadge, useApi } from '../components/common';
import { ApiError } from '../api/client';
import { useMemo, useRef, useState } from 'react';
import { query } from '../api/client';
import { usedNow } from '../api/used-now';
import { useHostEvents, useWorkloadEvents } from '../live';

/** The fleet at a glance: hosts, capacity vs allocation, workloads by state, revenue. */
export function OverviewPage() {
  const hosts = useApi<Page<HostView>>('/v1/admin/hosts');
  const workloads = useApi<WorkloadPage>('/v1/admin/workloads?limit=500');
  const plans = useApi<{ items: Plan[] }>('/v1/admin/plans');
  const currencies = useMemo(() => [...new Set((plans.data?.items ?? []).map((plan) => plan.currency))].sort(), [plans.data]);
  // Used = metered: the last two hours' hourly rollups of every tenant (see usedNow).
  const [usageWindow] = useState(() => {
    const hour = 3600_000;
    const now = Date.now();
    const to = Math.ceil(now / hour) * hour;
    return { now, from: new Date(to - 2 * hour).toISOString(), to: new Date(to).toISOString() };
  });
  const usage = useApi<UsageReply>(`/v1/admin/usage${query({ from: usageWindow.from, to: usageWindow.to, granularity: 'hour', groupBy: 'meter' })}`);
  const used = useMemo(() => (usage.data ? usedNow(usage.data, usageWindow.now) : null), [usage.data, usageWindow.now]);
  // A burst of new workloads reloads the counts once, not once per event.
  const pendingReload = useRef<ReturnType<typeof setTimeout> | null>(null);
  useWorkloadEvents((change) => {
    if (!workloads.data?.items.some((item) => item.id === change.workloadId)) {
      pendingReload.current ??= setTimeout(() => {
        pendingReload.current = null;
        workloads.reload();
      }, 500);
      return;
    }
    workloads.setData((page) =>
      page ? { ...page, items: page.items.map((item): WorkloadView => (item.id === change.workloadId ? { ...item, state: change.to, hostId: change.hostId } : item)) } : page,
    );
  });
  useHostEvents(() => hosts.reload());

  const hostItems = hosts.data?.items ?? [];
  const byHostState = countBy(hostItems.map((host) => host.state));
  const byWorkloadState = countBy((workloads.data?.items ?? []).map((workload) => workload.state));
  const sum = (pick: (host: HostView) => number) => hostItems.reduce((total, host) => total + pick(host), 0);

  return (
    <div className="page">
      <h1>Overview</h1>
      <div className="grid">
        <Section title="Hosts">
          {hosts.loading && !hosts.data ? <Loading what="hosts" /> : null}
          <ErrorMessage error={hosts.error} feature="Host inventory" />
          {hosts.data ? (
            <dl className="stats">
              <div>
                <dt>Total</dt>
                <dd>{hostItems.length}</dd>
              </div>
              <div>
                <dt>Ready</dt>
                <dd>{byHostState.get('ready') ?? 0}</dd>
              </div>
              <div>
                <dt>Unreachable</dt>
                <dd>{byHostState.get('unreachable') ?? 0}</dd>
              </div>
              <div>
                <dt>Lost</dt>
                <dd className={(byHostState.get('lost') ?? 0) > 0 ? 'alarm' : ''}>{byHostState.get('lost') ?? 0}</dd>
              </div>
              <div>
                <dt>Cordoned / draining / maintenance</dt>
                <dd>{(byHostState.get('cordoned') ?? 0) + (byHostState.get('draining') ?? 0) + (byHostState.get('maintenance') ?? 0)}</dd>
              </div>
            </dl>
          ) : null}
        </Section>
        <Section title="Revenue this period">
          {plans.error instanceof ApiError && plans.error.status === 404 ? (
            <p className="not-available" role="status">
              Billing not available.
            </p>
          ) : (
            <ErrorMessage error={plans.error} />
          )}
          {plans.data ? (
            // The summary is per currency: one per currency the price plans bill in (the service's default when there is no plan yet).
            currencies.length === 0 ? (
              <Revenue currency={null} />
            ) : (
              currencies.map((currency) => <Revenue key={currency} currency={currency} />)
            )
          ) : null}
        </Section>
      </div>
      <Section title="Capacity, allocation and use">
        <p className="small muted">
          Used is metered, per tenant (the usage API has no per-host rows): each tenant&apos;s latest hourly rollup, CPU as its <code>cpu_seconds</code> over the hour&apos;s elapsed seconds,
          memory as its <code>memory_peak_bytes</code> (a peak, so an upper bound), summed over tenants.
        </p>
        <ErrorMessage error={usage.error} feature="Metered use" />
        {hosts.data ? (
          <div className="grid">
            <BarChart
              title="CPU allocated and used of capacity"
              bars={[
                { label: 'All hosts, allocated', value: sum((host) => host.allocated.cpuMillis), max: sum((host) => host.capacity.cpuMillis), text: `${formatCpu(sum((host) => host.allocated.cpuMillis))} / ${formatCpu(sum((host) => host.capacity.cpuMillis))}` },
                ...(used ? [{ label: 'All hosts, used', value: used.cpuMillis, max: sum((host) => host.capacity.cpuMillis), text: `${formatCpu(Math.round(used.cpuMillis))} / ${formatCpu(sum((host) => host.capacity.cpuMillis))}` }] : []),
                ...hostItems.map((host) => ({ label: host.id, value: host.allocated.cpuMillis, max: host.capacity.cpuMillis, text: `${formatCpu(host.allocated.cpuMillis)} / ${formatCpu(host.capacity.cpuMillis)}` })),
              ]}
            />
            <BarChart
              title="Memory allocated and used of capacity"
              bars={[
                { label: 'All hosts, allocated', value: sum((host) => host.allocated.memoryMiB), max: sum((host) => host.capacity.memoryMiB), text: `${formatMiB(sum((host) => host.allocated.memoryMiB))} / ${formatMiB(sum((host) => host.capacity.memoryMiB))}` },
                ...(used ? [{ label: 'All hosts, used', value: used.memoryMiB, max: sum((host) => host.capacity.memoryMiB), text: `${formatMiB(Math.round(used.memoryMiB))} / ${formatMiB(sum((host) => host.capacity.memoryMiB))}` }] : []),
                ...hostItems.map((host) => ({ label: host.id, value: host.allocated.memoryMiB, max: host.capacity.memoryMiB, text: `${formatMiB(host.allocated.memoryMiB)} / ${formatMiB(host.capacity.memoryMiB)}` })),
              ]}
            />
          </div>
        ) : (
          <ErrorMessage error={hosts.error} feature="Capacity (from the host inventory)" />
        )}
      </Section>
      <Section title="Workloads by state">
        {workloads.loading && !workloads.data ? <Loading what="workloads" /> : null}
        <ErrorMessage error={workloads.error} feature="Workloads across tenants" />
        {workloads.data ? (
          <>
            <ul className="state-counts" aria-label="Workload counts by state">
              {[...byWorkloadState.entries()].map(([state, count]) => (
                <li key={state}>
                  <StateBadge state={state} /> {count}
                </li>
              ))}
              {byWorkloadState.size === 0 ? <li className="muted">No workloads.</li> : null}
            </ul>
            <BarChart title="Workloads per state" bars={[...byWorkloadState.entries()].map(([state, count]) => ({ label: state, value: count }))} />
            {workloads.data.nextCursor ? <p className="muted small">Counted from the first 500 workloads.</p> : null}
          </>
        ) : null}
      </Section>
    </div>
  );
}

function countBy(values: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return counts;
}


function Revenue({ currency }: { currency: string | null }) {
  const billing = useApi<BillingSummary>(`/v1/admin/billing/summary${query({ currency: currency ?? '' })}`);
  if (billing.loading && !billing.data) return <Loading what="billing" />;
  if (billing.error) return <ErrorMessage error={billing.error} feature="Billing summary" />;
  if (!billing.data) return null;
  return (
    <dl className="stats" aria-label={`Revenue in ${billing.data.currency}`}>
      <div>
        <dt>Revenue</dt>
        <dd>
          {billing.data.revenue} {billing.data.currency}
        </dd>
      </div>
      <div>
        <dt>Tenants billed</dt>
        <dd>{billing.data.tenants}</dd>
      </div>
      <div>
        <dt>Period</dt>
        <dd className="small">
          {billing.data.periodStart.slice(0, 16).replace('T', ' ')} – {billing.data.periodEnd.slice(0, 16).replace('T', ' ')} UTC
        </dd>
      </div>
    </dl>
  );
}
