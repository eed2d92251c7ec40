import { useEffect, useState } from 'react';
import { api, type StoredSession } from './api/client';
import { LiveEventsProvider, useLiveStatus } from './live';
import { AuditPage } from './pages/audit';
import { BillingPage } from './pages/billing';
import { HostDetailPage, HostsPage } from './pages/hosts';
import { ImagesPage } from './pages/images';
import { LoginPage } from './pages/login';
import { OverviewPage } from './pages/overview';
import { TenantsPage } from './pages/tenants';
import { WorkloadDetailPage, WorkloadsPage } from './pages/workloads';
import { Link, usePath } from './router';

const NAV: Array<{ to: string; label: string }> = [
  { to: '/', label: 'Overview' },
  { to: '/hosts', label: 'Hosts' },
  { to: '/tenants', label: 'Tenants' },
  { to: '/workloads', label: 'Workloads' },
  { to: '/images', label: 'Images' },
  { to: '/billing', label: 'Usage & billing' },
  { to: '/audit', label: 'Audit log' },
];

export function App() {
  const [session, setSession] = useState<StoredSession | null>(api.current());
  useEffect(() => api.onSessionChange(setSession), []);
  if (!session) return <LoginPage />;
  return (
    <LiveEventsProvider key={session.login}>
      <Shell session={session} />
    </LiveEventsProvider>
  );
}

function LiveIndicator() {
  const status = useLiveStatus();
  const text = status === 'live' ? 'Live' : status === 'stopped' ? 'Offline' : status === 'connecting' ? 'Connecting…' : 'Reconnecting…';
  return (
    <span className={`live live-${status}`} role="status" aria-label={`Live updates: ${text}`}>
      ● {text}
    </span>
  );
}

function Shell({ session }: { session: StoredSession }) {
  const path = usePath();
  return (
    <div className="shell">
      <header className="topbar">
        <span className="brand">Gureum</span>
        <nav aria-label="Main">
          <ul>
            {NAV.map((item) => (
              <li key={item.to}>
                <Link to={item.to}>{item.label}</Link>
              </li>
            ))}
          </ul>
        </nav>
        <div className="session">
          <LiveIndicator />
          <span className="small">{session.login}</span>
          <button type="button" onClick={() => void api.logout()}>
            Log out
          </button>
        </div>
      </header>
      <main>
        <Route path={path} />
      </main>
    </div>
  );
}

function Route({ path }: { path: string }) {
  const [section, id] = path.split('/').filter(Boolean).map(decodeURIComponent);
  switch (section) {
    case undefined:
      return <OverviewPage />;
    case 'hosts':
      return id ? <HostDetailPage id={id} /> : <HostsPage />;
    case 'tenants':
      return <TenantsPage />;
    case 'workloads':
      return id ? <WorkloadDetailPage id={id} /> : <WorkloadsPage />;
    case 'images':
      return <ImagesPage />;
    case 'billing':
      return <BillingPage />;
    case 'audit':
      return <AuditPage />;
    default:
      return (
        <div className="page">
          <h1>Not found</h1>
          <p>
            No page at {path}. <Link to="/">Back to the overview</Link>
          </p>
        </div>
      );
  }
}
