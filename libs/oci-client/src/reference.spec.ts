import { VmTemplateConfigSchema, VmTemplateManifestSchema, vmTemplateProblem, VM_DISK_QCOW2_MEDIA_TYPE, VM_KERNEL_MEDIA_TYPE } from '@gureum/contracts';
import { parseImageReference } from './reference';
import { parseBearerChallenge } from './registry-client';

describe('image references', () => {
  it('parses host, repository and tag or digest, with plain HTTP for loopback only', () => {
    expect(parseImageReference('127.0.0.1:5000/acme/vm-guest')).toEqual({ baseUrl: 'http://127.0.0.1:5000', repository: 'acme/vm-guest', reference: 'latest' });
    expect(parseImageReference('localhost:5000/acme/a/b:v1.2')).toEqual({ baseUrl: 'http://localhost:5000', repository: 'acme/a/b', reference: 'v1.2' });
    expect(parseImageReference('registry.example.com/acme/x:1')).toEqual({ baseUrl: 'https://registry.example.com', repository: 'acme/x', reference: '1' });
    expect(parseImageReference('http://registry.lan:5000/acme/x:1').baseUrl).toBe('http://registry.lan:5000');
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(parseImageReference(`127.0.0.1:5000/acme/x@${digest}`).reference).toBe(digest);
  });

  it('rejects references without a host, with bad names, tags or digests', () => {
    expect(() => parseImageReference('vm-guest')).toThrow(/registry host/);
    expect(() => parseImageReference('127.0.0.1:5000/Acme/x')).toThrow(/repository name/);
    expect(() => parseImageReference('127.0.0.1:5000/acme/x:-bad')).toThrow(/tag/);
    expect(() => parseImageReference('127.0.0.1:5000/acme/x@sha256:abc')).toThrow(/digest/);
  });

  it('reads Bearer challenges', () => {
    expect(parseBearerChallenge('Bearer realm="http://r/token",service="gureum-registry",scope="repository:a/b:pull"')).toEqual({
      realm: 'http://r/token',
      service: 'gureum-registry',
      scope: 'repository:a/b:pull',
    });
    expect(parseBearerChallenge('Basic realm="x"')).toBeNull();
  });
});

describe('VM template contract', () => {
  const config = { arch: 'x86_64' as const, vcpusMin: 1, memoryMiBMin: 64, bootMode: 'kernel' as const, cmdline: 'console=ttyS0' };
  const layer = (mediaType: string) => ({ mediaType, digest: `sha256:${'b'.repeat(64)}`, size: 1 });

  it('requires the layer the boot mode needs', () => {
    expect(vmTemplateProblem(config, [layer(VM_KERNEL_MEDIA_TYPE)])).toBeNull();
    expect(vmTemplateProblem(config, [layer(VM_DISK_QCOW2_MEDIA_TYPE)])).toMatch(/kernel layer/);
    expect(vmTemplateProblem({ ...config, bootMode: 'disk' }, [layer(VM_DISK_QCOW2_MEDIA_TYPE)])).toBeNull();
    expect(vmTemplateProblem({ ...config, bootMode: 'disk' }, [layer(VM_DISK_QCOW2_MEDIA_TYPE), layer(VM_KERNEL_MEDIA_TYPE)])).toMatch(/cannot have a kernel/);
  });

  it('rejects unknown config fields, duplicate layers and foreign layer types', () => {
    expect(VmTemplateConfigSchema.safeParse({ ...config, extra: 1 }).success).toBe(false);
    expect(VmTemplateConfigSchema.safeParse({ ...config, vcpusMin: 0 }).success).toBe(false);
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.gureum.vm.template.v1',
      config: { mediaType: 'application/vnd.gureum.vm.template.config.v1+json', digest: `sha256:${'c'.repeat(64)}`, size: 10 },
      layers: [layer(VM_KERNEL_MEDIA_TYPE)],
    };
    expect(VmTemplateManifestSchema.safeParse(manifest).success).toBe(true);
    expect(VmTemplateManifestSchema.safeParse({ ...manifest, layers: [layer(VM_KERNEL_MEDIA_TYPE), layer(VM_KERNEL_MEDIA_TYPE)] }).success).toBe(false);
    expect(VmTemplateManifestSchema.safeParse({ ...manifest, layers: [layer('application/vnd.oci.image.layer.v1.tar')] }).success).toBe(false);
    expect(VmTemplateManifestSchema.safeParse({ ...manifest, artifactType: undefined }).success).toBe(false);
  });
});
