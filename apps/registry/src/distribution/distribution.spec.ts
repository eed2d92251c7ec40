import { parseDigest, tryParseDigest } from './digest';
import { MediaTypes, parseManifest } from './manifest';
import { isValidTag, parseRepositoryName } from './names';
import { OciError } from './oci-error';
import { parseBlobRange, parseUploadContentRange, uploadRangeHeader } from './ranges';

const D = `sha256:${'a'.repeat(64)}`;

describe('repository names', () => {
  it.each(['acme/app', 'acme/team/app', 'a0/b-c', 'acme/a__b', 'acme/a.b', 'acme/a---b'])('accepts %s', (name) => {
    expect(parseRepositoryName(name)).toEqual({ full: name, namespace: name.split('/')[0] });
  });

  it.each(['app', 'Acme/app', 'acme/../x', 'acme/a..b', 'acme/.app', 'acme/app/', '/acme/app', 'acme//app', 'acme/a___b', 'acme/app-', `acme/${'a'.repeat(260)}`])(
    'rejects %s with NAME_INVALID',
    (name) => {
      expect(() => parseRepositoryName(name)).toThrow(expect.objectContaining({ code: 'NAME_INVALID', status: 400 }));
    },
  );

  it('validates tags by the spec grammar', () => {
    expect(isValidTag('v1.2_3-rc')).toBe(true);
    expect(isValidTag('-v1')).toBe(false);
    expect(isValidTag('a'.repeat(129))).toBe(false);
  });
});

describe('digests', () => {
  it('parses sha256 and sha512 and rejects everything else as DIGEST_INVALID', () => {
    expect(parseDigest(D)).toEqual({ algorithm: 'sha256', hex: 'a'.repeat(64), value: D });
    expect(tryParseDigest(`sha512:${'b'.repeat(128)}`)?.algorithm).toBe('sha512');
    for (const bad of ['sha256:abc', `sha256:${'A'.repeat(64)}`, `md5:${'a'.repeat(32)}`, 'a'.repeat(64), `sha256:${'a'.repeat(64)}/x`]) {
      expect(tryParseDigest(bad)).toBeNull();
    }
    expect(() => parseDigest('sha256:zz')).toThrow(expect.objectContaining({ code: 'DIGEST_INVALID' }));
  });
});

describe('ranges', () => {
  it('parses upload Content-Range in the spec form and the HTTP form', () => {
    expect(parseUploadContentRange('0-9')).toEqual({ start: 0, end: 9 });
    expect(parseUploadContentRange('bytes 10-19/*')).toEqual({ start: 10, end: 19 });
    expect(parseUploadContentRange('9-0')).toBeNull();
    expect(parseUploadContentRange('abc')).toBeNull();
    expect(uploadRangeHeader(10)).toBe('0-9');
    expect(uploadRangeHeader(0)).toBe('0-0');
  });

  it('resolves blob Range headers against the size', () => {
    expect(parseBlobRange(undefined, 100)).toEqual({ kind: 'whole' });
    expect(parseBlobRange('bytes=10-19', 100)).toEqual({ kind: 'partial', span: { start: 10, end: 19 } });
    expect(parseBlobRange('bytes=90-', 100)).toEqual({ kind: 'partial', span: { start: 90, end: 99 } });
    expect(parseBlobRange('bytes=90-500', 100)).toEqual({ kind: 'partial', span: { start: 90, end: 99 } });
    expect(parseBlobRange('bytes=-10', 100)).toEqual({ kind: 'partial', span: { start: 90, end: 99 } });
    expect(parseBlobRange('bytes=100-', 100)).toEqual({ kind: 'unsatisfiable' });
    expect(parseBlobRange('bytes=20-10', 100)).toEqual({ kind: 'unsatisfiable' });
    expect(parseBlobRange('items=1-2', 100)).toEqual({ kind: 'whole' });
  });
});

describe('manifests', () => {
  const descriptor = (mediaType: string) => ({ mediaType, digest: D, size: 1 });

  it('extracts the blobs, subject and artifact type of an image manifest', () => {
    const body = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaTypes.ociManifest,
        config: descriptor('application/vnd.example.config'),
        layers: [descriptor('l'), { ...descriptor('foreign'), digest: `sha256:${'c'.repeat(64)}`, urls: ['https://example.invalid/x'] }],
        subject: descriptor(MediaTypes.ociManifest),
      }),
    );
    expect(parseManifest(body, MediaTypes.ociManifest)).toEqual({
      mediaType: MediaTypes.ociManifest,
      blobs: [D, D],
      manifests: [],
      subject: D,
      artifactType: 'application/vnd.example.config',
      annotations: null,
    });
  });

  it('takes the media type from the body when Content-Type is generic, and rejects a conflict', () => {
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [descriptor(MediaTypes.ociManifest)] }));
    expect(parseManifest(index, 'application/json').manifests).toEqual([D]);
    expect(() => parseManifest(index, MediaTypes.ociManifest)).toThrow(expect.objectContaining({ code: 'MANIFEST_INVALID' }));
  });

  it('rejects schema 1, non-JSON and unknown media types', () => {
    expect(() => parseManifest(Buffer.from('{"schemaVersion":1}'), MediaTypes.dockerManifest)).toThrow(OciError);
    expect(() => parseManifest(Buffer.from('nope'), MediaTypes.ociManifest)).toThrow(expect.objectContaining({ code: 'MANIFEST_INVALID' }));
    expect(() => parseManifest(Buffer.from('{"schemaVersion":2}'), 'text/plain')).toThrow(expect.objectContaining({ status: 415 }));
  });
});
