import { useState, type FormEvent } from 'react';
import { api } from '../api/client';
import { ErrorMessage } from '../components/common';

/** Operators log in with their login and password (a session), or paste an operator API key. */
export function LoginPage() {
  const [mode, setMode] = useState<'password' | 'key'>('password');
  const [login, setLogin] = useState('');
  const [password, setPassword] = useState('');
  const [apiKey, setApiKey] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (mode === 'password') await api.login(login.trim(), password);
      else await api.loginWithApiKey(apiKey.trim());
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="login">
      <form className="card login-card" onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">Gureum console</h1>
        <p className="muted">Platform operators only.</p>
        <div className="tabs" role="radiogroup" aria-label="How to log in">
          <label>
            <input type="radio" name="mode" checked={mode === 'password'} onChange={() => setMode('password')} /> With a password
          </label>
          <label>
            <input type="radio" name="mode" checked={mode === 'key'} onChange={() => setMode('key')} /> With an operator API key
          </label>
        </div>
        {mode === 'password' ? (
          <>
            <label>
              Login
              <input name="login" autoComplete="username" required value={login} onChange={(event) => setLogin(event.target.value)} />
            </label>
            <label>
              Password
              <input name="password" type="password" autoComplete="current-password" required value={password} onChange={(event) => setPassword(event.target.value)} />
            </label>
          </>
        ) : (
          <label>
            API key
            <input name="apiKey" type="password" autoComplete="off" required value={apiKey} onChange={(event) => setApiKey(event.target.value)} />
          </label>
        )}
        <ErrorMessage error={error} />
        <button type="submit" disabled={busy}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
      </form>
    </main>
  );
}
