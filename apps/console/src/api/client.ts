/**
 * The console's only way to the platform: the public HTTP API on the same origin. Tokens live
 * in sessionStorage (gone with the tab), never in a cookie, so no request is made with
 * ambient credentials.
 */

export interface Problem {
  status: number;
  title: string;
  detail: string;
  code: string;
  requestId?: string;
  errors?: Array<{ path: string; message: string }>;
}

/** An API answer that was not a success, as a readable message (problem+json `title` / `detail`). */
export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail ? `${problem.title}: ${problem.detail}` : problem.title);
    this.name = 'ApiError';
  }

  get status(): number {
    return this.problem.status;
  }

  /** The route itself does not exist on this api (a feature not deployed yet), as opposed to a missing object. */
  get routeMissing(): boolean {
    return this.problem.status === 404 && this.problem.detail.startsWith('no route matches');
  }
}

export interface StoredSession {
  /** A session access token (`gat_…`) or, for an operator key login, the API key itself. */
  accessToken: string;
  refreshToken: string | null;
  login: string;
}

const STORAGE_KEY = 'gureum.console.session';

export function loadSession(): StoredSession | null {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    if (!raw) return null;
    const parsed = JSON.parse(raw) as Partial<StoredSession>;
    if (typeof parsed.accessToken !== 'string' || typeof parsed.login !== 'string') return null;
    return { accessToken: parsed.accessToken, refreshToken: typeof parsed.refreshToken === 'string' ? parsed.refreshToken : null, login: parsed.login };
  } catch {
    return null;
  }
}

function storeSession(session: StoredSession | null): void {
  if (session) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  else sessionStorage.removeItem(STORAGE_KEY);
}

interface Tokens {
  accessToken: string;
  refreshToken: string;
}

async function problemOf(response: Response): Promise<Problem> {
  const text = await response.text().catch(() => '');
  try {
    const body = JSON.parse(text) as Partial<Problem>;
    if (typeof body.title === 'string') {
      return {
        status: response.status,
        title: body.title,
        detail: typeof body.detail === 'string' ? body.detail : '',
        code: typeof body.code === 'string' ? body.code : 'unknown',
        ...(typeof body.requestId === 'string' ? { requestId: body.requestId } : {}),
        ...(Array.isArray(body.errors) ? { errors: body.errors } : {}),
      };
    }
  } catch {
    // not a problem document: described below from the status
  }
  return { status: response.status, title: response.statusText || `HTTP ${response.status}`, detail: text.slice(0, 300), code: 'unknown' };
}

export class ApiClient {
  private session: StoredSession | null = loadSession();
  private refreshing: Promise<boolean> | null = null;
  private readonly listeners = new Set<(session: StoredSession | null) => void>();

  current(): StoredSession | null {
    return this.session;
  }

  onSessionChange(listener: (session: StoredSession | null) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private setSession(session: StoredSession | null): void {
    this.session = session;
    storeSession(session);
    for (const listener of this.listeners) listener(session);
  }

  async login(login: string, password: string): Promise<void> {
    const response = await fetch('/v1/auth/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ login, password }) });
    if (!response.ok) throw new ApiError(await problemOf(response));
    const tokens = (await response.json()) as Tokens;
    await this.adopt({ accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, login });
  }

  /** An operator API key instead of a password (the local stack prints one). */
  async loginWithApiKey(apiKey: string): Promise<void> {
    await this.adopt({ accessToken: apiKey, refreshToken: null, login: 'operator API key' });
  }

  /** Only operators may use the console: a tenant credential is refused here, with a reason. */
  private async adopt(session: StoredSession): Promise<void> {
    const response = await fetch('/v1/me', { headers: { Authorization: `Bearer ${session.accessToken}` } });
    if (!response.ok) throw new ApiError(await problemOf(response));
    const me = (await response.json()) as { role: string };
    if (me.role !== 'operator') {
      throw new ApiError({ status: 403, title: 'Not an operator', detail: `this credential has the ${me.role} role; the console is for platform operators`, code: 'forbidden' });
    }
    this.setSession(session);
  }

  async logout(): Promise<void> {
    const session = this.session;
    this.setSession(null);
    if (session?.refreshToken) await fetch('/v1/auth/logout', { method: 'POST', headers: { Authorization: `Bearer ${session.accessToken}` } }).catch(() => undefined);
  }

  /** A fresh access token after a 401, once at a time; false (and logged out) when that is not possible. */
  async refresh(): Promise<boolean> {
    this.refreshing ??= (async () => {
      const refreshToken = this.session?.refreshToken;
      if (!refreshToken) return false;
      const response = await fetch('/v1/auth/refresh', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ refreshToken }) }).catch(() => null);
      if (!response?.ok) return false;
      const tokens = (await response.json()) as Tokens;
      this.setSession({ accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, login: this.session?.login ?? '' });
      return true;
    })().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  /** Authorization header for the current session (the event stream sets up its own fetch). */
  authorization(): string | null {
    return this.session ? `Bearer ${this.session.accessToken}` : null;
  }

  async request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    for (let attempt = 0; ; attempt += 1) {
      const headers: Record<string, string> = { Accept: 'application/json' };
      const authorization = this.authorization();
      if (authorization) headers['Authorization'] = authorization;
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      const response = await fetch(path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), ...(signal ? { signal } : {}) });
      if (response.status === 401 && attempt === 0 && (await this.refresh())) continue;
      if (response.status === 401) this.setSession(null);
      if (!response.ok) throw new ApiError(await problemOf(response));
      if (response.status === 204) return undefined as T;
      const type = response.headers.get('content-type') ?? '';
      return (type.includes('json') ? await response.json() : await response.text()) as T;
    }
  }

  get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.request<T>('GET', path, undefined, signal);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }
}

export const api = new ApiClient();

export function query(params: Record<string, string | number | undefined | null>): string {
  const entries = Object.entries(params).filter((entry): entry is [string, string | number] => entry[1] !== undefined && entry[1] !== null && entry[1] !== '');
  return entries.length ? `?${new URLSearchParams(entries.map(([key, value]) => [key, String(value)])).toString()}` : '';
}
