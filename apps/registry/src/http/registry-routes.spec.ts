import { matchRoute, requiredAction } from './registry-routes';

describe('routes', () => {
  it('matches every endpoint of the spec, with names of several components', () => {
    expect(matchRoute('/v2/')).toEqual({ kind: 'base' });
    expect(matchRoute('/v2/acme/a/b/blobs/uploads/')).toEqual({ kind: 'uploads', name: 'acme/a/b' });
    expect(matchRoute('/v2/acme/a/blobs/uploads/1234')).toEqual({ kind: 'upload', name: 'acme/a', uploadId: '1234' });
    expect(matchRoute('/v2/acme/a/blobs/sha256:ab')).toEqual({ kind: 'blob', name: 'acme/a', digest: 'sha256:ab' });
    expect(matchRoute('/v2/acme/a/manifests/latest')).toEqual({ kind: 'manifest', name: 'acme/a', reference: 'latest' });
    expect(matchRoute('/v2/acme/a/tags/list')).toEqual({ kind: 'tags', name: 'acme/a' });
    expect(matchRoute('/v2/acme/a/referrers/sha256:ab')).toEqual({ kind: 'referrers', name: 'acme/a', digest: 'sha256:ab' });
    expect(matchRoute('/v2/acme/blobs/blobs/uploads/')).toEqual({ kind: 'uploads', name: 'acme/blobs' });
    expect(matchRoute('/v2/_catalog')).toBeNull();
  });

  it('requires pull to read, push to write and delete to delete', () => {
    expect(requiredAction({ kind: 'manifest', name: 'a/b', reference: 'x' }, 'GET')).toBe('pull');
    expect(requiredAction({ kind: 'manifest', name: 'a/b', reference: 'x' }, 'PUT')).toBe('push');
    expect(requiredAction({ kind: 'manifest', name: 'a/b', reference: 'x' }, 'DELETE')).toBe('delete');
    expect(requiredAction({ kind: 'blob', name: 'a/b', digest: 'x' }, 'DELETE')).toBe('delete');
    expect(requiredAction({ kind: 'upload', name: 'a/b', uploadId: 'x' }, 'GET')).toBe('push');
  });
});
