import { useCallback, useEffect, useState, type ReactNode } from 'react';
import { api, ApiError } from '../api/client';

export interface Loaded<T> {
  data: T | null;
  error: unknown;
  loading: boolean;
  reload: () => void;
  setData: (update: (current: T | null) => T | null) => void;
}

/** GET `path` (null: nothing to load yet); reloads when the path changes or on demand, keeping the last data meanwhile. */
export function useApi<T>(path: string | null): Loaded<T> {
  const [generation, setGeneration] = useState(0);
  const [state, setState] = useState<{ key: string; data: T | null; error: unknown }>({ key: '', data: null, error: null });
  const key = `${path ?? ''}#${generation}`;
  useEffect(() => {
    if (path === null) return;
    const controller = new AbortController();
    api
      .get<T>(path, controller.signal)
      .then((result) => setState({ key, data: result, error: null }))
      .catch((caught: unknown) => {
        if (!controller.signal.aborted) setState((current) => ({ key, data: current.data, error: caught }));
      });
    return () => controller.abort();
  }, [path, key]);
  const setData = useCallback((update: (current: T | null) => T | null) => setState((current) => ({ ...current, data: update(current.data) })), []);
  const reload = useCallback(() => setGeneration((value) => value + 1), []);
  return { data: state.data, error: state.error, loading: path !== null && state.key !== key, reload, setData };
}

/** Runs an action (a button), remembering its error to show next to it. */
export function useAction(): { busy: boolean; error: unknown; run: (action: () => Promise<unknown>) => Promise<boolean>; clear: () => void } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = useCallback(async (action: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await action();
      return true;
    } catch (caught) {
      setError(caught);
      return false;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, run, clear: () => setError(null) };
}

/** An API error as a person reads it: the problem's title and detail, or "not available" when the route does not exist here. */
export function ErrorMessage({ error, feature }: { error: unknown; feature?: string }) {
  if (!error) return null;
  if (error instanceof ApiError && error.routeMissing) return <NotAvailable feature={feature ?? 'This feature'} />;
  if (error instanceof ApiError) {
    return (
      <div className="problem" role="alert">
        <strong>{error.problem.title}</strong>
        {error.problem.detail ? <span>: {error.problem.detail}</span> : null}
        {error.problem.errors?.length ? (
          <ul>
            {error.problem.errors.map((field) => (
              <li key={`${field.path}:${field.message}`}>
                {field.path}: {field.message}
              </li>
            ))}
          </ul>
        ) : null}
      </div>
    );
  }
  return (
    <div className="problem" role="alert">
      <strong>Could not reach the API</strong>: {error instanceof Error ? error.message : String(error)}
    </div>
  );
}

export function NotAvailable({ feature }: { feature: string }) {
  return (
    <div className="not-available" role="status">
      {feature} not available: this installation&apos;s API does not offer it.
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="muted" role="status">
      Loading {what}…
    </p>
  );
}

export function Section({ title, children, actions }: { title: string; children: ReactNode; actions?: ReactNode }) {
  const id = `section-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return (
    <section className="card" aria-labelledby={id}>
      <header className="card-header">
        <h2 id={id}>{title}</h2>
        {actions ? <div className="card-actions">{actions}</div> : null}
      </header>
      {children}
    </section>
  );
}

export function StateBadge({ state }: { state: string }) {
  return <span className={`badge state-${state}`}>{state}</span>;
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function formatMiB(mib: number): string {
  return mib >= 1024 ? `${(mib / 1024).toFixed(1)} GiB` : `${mib} MiB`;
}

export function formatCpu(millis: number): string {
  return `${(millis / 1000).toFixed(millis % 1000 === 0 ? 0 : 2)} CPU`;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}
