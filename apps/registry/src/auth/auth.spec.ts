import { ErrorCode, GureumError, type Principal } from '@gureum/contracts';
import { allowedActions, grantAccess, grantAnonymousAccess, parseScopes, tokenPermits } from './access';
import { RequestAuthorizer } from './authorize-request';
import { PrincipalCheck } from './principal-check';
import { createTokenSigner } from './token';

const tenant = (role: Principal['role'], tenantName: string | null = 'acme'): Principal => ({
  principalId: 'p1',
  kind: 'api_key',
  tenantId: tenantName ? '7b0c2a4e-1f8e-4a53-9a4f-4f0e6f0d1a11' : null,
  tenantName,
  role,
});

describe('token scopes', () => {
  it('parses repository scopes, including several in one parameter, and ignores malformed ones', () => {
    expect(parseScopes(['repository:acme/app:pull,push', 'repository:acme/x:pull registry:catalog:*', 'nonsense', 'repository::pull', 'repository:acme/y:'])).toEqual([
      { type: 'repository', name: 'acme/app', actions: ['pull', 'push'] },
      { type: 'repository', name: 'acme/x', actions: ['pull'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
  });

  it('lets tenants act in their own namespace only, viewers pull only, everyone pull public, operators everything', () => {
    expect(allowedActions(tenant('owner'), 'acme/app', false)).toEqual(['pull', 'push', 'delete']);
    expect(allowedActions(tenant('member'), 'acme/app', false)).toEqual(['pull', 'push', 'delete']);
    expect(allowedActions(tenant('viewer'), 'acme/app', false)).toEqual(['pull']);
    expect(allowedActions(tenant('owner'), 'acmecorp/app', false)).toEqual([]);
    expect(allowedActions(tenant('owner'), 'globex/app', false)).toEqual([]);
    expect(allowedActions(tenant('owner'), 'globex/app', true)).toEqual(['pull']);
    expect(allowedActions(tenant('operator', null), 'globex/app', false)).toEqual(['pull', 'push', 'delete']);
  });

  it('grants the intersection of what was asked and what is allowed', () => {
    const granted = grantAccess(
      tenant('owner'),
      parseScopes(['repository:acme/app:pull', 'repository:acme/app:push', 'repository:globex/app:pull,push', 'repository:globex/pub:pull,push', 'repository:acme/all:*', 'registry:catalog:*']),
      (name) => name === 'globex/pub',
    );
    expect(granted).toEqual([
      { type: 'repository', name: 'acme/app', actions: ['pull', 'push'] },
      { type: 'repository', name: 'globex/pub', actions: ['pull'] },
      { type: 'repository', name: 'acme/all', actions: ['delete', 'pull', 'push'] },
    ]);
    expect(tokenPermits(granted, 'acme/app', 'push')).toBe(true);
    expect(tokenPermits(granted, 'acme/app', 'delete')).toBe(false);
    expect(tokenPermits(granted, 'globex/pub', 'push')).toBe(false);
  });
});

describe('anonymous tokens', () => {
  it('grant pull on requested public repositories only, never push or delete', () => {
    const granted = grantAnonymousAccess(
      parseScopes(['repository:acme/pub:pull,push,delete', 'repository:acme/private:pull', 'repository:globex/pub:*', 'repository:acme/pub:push', 'registry:catalog:*']),
      (name) => name === 'acme/pub' || name === 'globex/pub',
    );
    expect(granted).toEqual([
      { type: 'repository', name: 'acme/pub', actions: ['pull'] },
      { type: 'repository', name: 'globex/pub', actions: ['pull'] },
    ]);
    expect(grantAnonymousAccess(parseScopes(['repository:acme/pub:push']), () => true)).toEqual([]);
  });
});

describe('tokens', () => {
  const signer = createTokenSigner('s'.repeat(32), 300);
  const claims = { sub: 'p1', aud: 'gureum-registry', access: [{ type: 'repository', name: 'acme/app', actions: ['pull'] }], tenant: 'acme' };

  it('verifies its own tokens until they expire, for their audience only', () => {
    const { token } = signer.sign(claims, 1000);
    expect(signer.verify(token, 'gureum-registry', 1000)?.access).toEqual(claims.access);
    expect(signer.verify(token, 'gureum-registry', 1299)).not.toBeNull();
    expect(signer.verify(token, 'gureum-registry', 1300)).toBeNull();
    expect(signer.verify(token, 'other-service', 1000)).toBeNull();
  });

  it('rejects a token signed with another secret or with changed claims', () => {
    const { token } = createTokenSigner('t'.repeat(32), 300).sign(claims, 1000);
    expect(signer.verify(token, 'gureum-registry', 1000)).toBeNull();
    const [header, , signature] = signer.sign(claims, 1000).token.split('.');
    const widened = Buffer.from(JSON.stringify({ ...claims, access: [{ type: 'repository', name: 'globex/app', actions: ['pull'] }] })).toString('base64url');
    expect(signer.verify(`${header}.${widened}.${signature}`, 'gureum-registry', 1000)).toBeNull();
    expect(signer.verify('not.a.token', 'gureum-registry', 1000)).toBeNull();
  });

  it('checks audience and validity period on every request, also for a token it verified before', () => {
    const { token } = signer.sign(claims, 2000);
    expect(signer.verify(token, 'gureum-registry', 2000)).not.toBeNull();
    // nbf is 5 s before issue: earlier is refused even though the token is remembered.
    expect(signer.verify(token, 'gureum-registry', 1990)).toBeNull();
    expect(signer.verify(token, 'other-service', 2000)).toBeNull();
    expect(signer.verify(token, 'gureum-registry', 2300)).toBeNull();
  });

  it('never remembers a token whose signature does not verify', () => {
    const [header, payload] = signer.sign(claims, 1000).token.split('.');
    const forged = `${header}.${payload}.${Buffer.alloc(32, 7).toString('base64url')}`;
    expect(signer.verify(forged, 'gureum-registry', 1000)).toBeNull();
    expect(signer.verify(forged, 'gureum-registry', 1000)).toBeNull();
  });

  it('answers a missing token with a challenge naming the scope, and a token without the action with DENIED', async () => {
    const authorizer = new RequestAuthorizer(signer);
    let challenge: unknown;
    try {
      await authorizer.authenticate(undefined, 'http://r/token', { name: 'acme/app', actions: ['pull', 'push'] });
    } catch (error) {
      challenge = error;
    }
    expect(challenge).toEqual(
      expect.objectContaining({
        code: 'UNAUTHORIZED',
        status: 401,
        headers: { 'WWW-Authenticate': 'Bearer realm="http://r/token",service="gureum-registry",scope="repository:acme/app:pull,push"' },
      }),
    );
    const valid = await authorizer.authenticate(`Bearer ${signer.sign(claims, Math.floor(Date.now() / 1000)).token}`, 'http://r/token', null);
    expect(() => authorizer.authorize(valid, 'acme/app', 'push')).toThrow(expect.objectContaining({ code: 'DENIED', status: 403 }));
    expect(() => authorizer.authorize(valid, 'acme/app', 'pull')).not.toThrow();
  });
});

describe('PrincipalCheck (revocation of issued tokens)', () => {
  const base = { iss: 'gureum-registry', aud: 'gureum-registry', exp: 2000, nbf: 0, iat: 0, jti: 'j', access: [], tenant: 'acme', tenantId: null };

  it('asks once per principal within the TTL, again after it, and never for a token without a credential', async () => {
    let now = 1_000;
    const asked: string[] = [];
    let active = true;
    const check = new PrincipalCheck(async ({ principalId }) => (asked.push(principalId), active), undefined, 5_000, () => now);
    const claims = { ...base, sub: 'key-1', kind: 'api_key' as const };
    expect(await check.isActive(claims)).toBe(true);
    expect(await check.isActive(claims)).toBe(true);
    expect(asked).toEqual(['key-1']);
    active = false;
    now += 5_000;
    expect(await check.isActive(claims)).toBe(false);
    expect(asked).toEqual(['key-1', 'key-1']);
    expect(await check.isActive({ ...base, sub: 'anonymous', kind: null })).toBe(true);
    expect(asked).toHaveLength(2);
  });

  it('keeps a recent positive answer while the api is unavailable, then answers 503', async () => {
    let now = 1_000;
    let up = true;
    const check = new PrincipalCheck(
      async () => {
        if (!up) throw new GureumError(ErrorCode.Unavailable, 'no responders');
        return true;
      },
      undefined,
      5_000,
      () => now,
    );
    const claims = { ...base, sub: 'key-2', kind: 'user' as const };
    expect(await check.isActive(claims)).toBe(true);
    up = false;
    now += 10_000;
    expect(await check.isActive(claims)).toBe(true);
    now += 60_000;
    await expect(check.isActive(claims)).rejects.toMatchObject({ status: 503 });
  });
});
