import type { PulledVmTemplate, RegistryAuth } from '@gureum/oci-client';
import { DriverError } from '../driver';
import { namesRegistry, RegistryTemplateSource } from './registry-template-source';
import type { TemplateSource } from './template-source';

const local: TemplateSource = {
  list: () => Promise.resolve(['tiny']),
  resolve: (ref) => Promise.resolve({ name: ref, kernelPath: '/l/k', initrdPath: '/l/i', diskPath: '/l/d', cmdline: 'console=ttyS0' }),
};

function pulled(overrides: Partial<PulledVmTemplate> = {}): PulledVmTemplate {
  return {
    digest: `sha256:${'a'.repeat(64)}`,
    config: { arch: 'x86_64', vcpusMin: 1, memoryMiBMin: 64, bootMode: 'kernel', cmdline: 'console=ttyS0 gureum.x=1' },
    dir: '/c/t',
    kernel: '/c/t/vmlinuz',
    initrd: '/c/t/initrd',
    disk: '/c/t/disk.qcow2',
    cached: false,
    ...overrides,
  } as PulledVmTemplate;
}

describe('RegistryTemplateSource', () => {
  it('tells registry references from local template names as Docker does', () => {
    expect(namesRegistry('127.0.0.1:5000/acme/vm-guest:1')).toBe(true);
    expect(namesRegistry('registry.example/acme/vm')).toBe(true);
    expect(namesRegistry('localhost/acme/vm')).toBe(true);
    expect(namesRegistry('tiny')).toBe(false);
    expect(namesRegistry('acme/vm')).toBe(false);
  });

  it('resolves a local name locally and never pulls it', async () => {
    const pull = jest.fn();
    const source = new RegistryTemplateSource(local, '/cache', pull);
    await expect(source.resolve('tiny')).resolves.toMatchObject({ kernelPath: '/l/k' });
    expect(pull).not.toHaveBeenCalled();
    await expect(source.list()).resolves.toEqual(['tiny']);
  });

  it('pulls a registry template with the assignment token and boots from the cached files', async () => {
    const calls: Array<{ ref: string; auth: RegistryAuth; dir: string }> = [];
    const source = new RegistryTemplateSource(local, '/cache', (ref, auth, dir) => {
      calls.push({ ref, auth, dir });
      return Promise.resolve(pulled());
    });
    const template = await source.resolve('127.0.0.1:5000/acme/vm-guest:1', { registry: '127.0.0.1:5000', token: 't0k' });
    expect(calls).toEqual([{ ref: '127.0.0.1:5000/acme/vm-guest:1', auth: { token: 't0k' }, dir: '/cache' }]);
    expect(template).toEqual({ name: '127.0.0.1:5000/acme/vm-guest:1', kernelPath: '/c/t/vmlinuz', initrdPath: '/c/t/initrd', diskPath: '/c/t/disk.qcow2', cmdline: 'console=ttyS0 gureum.x=1' });
  });

  it('pulls anonymously without a token (public templates) and refuses a token for another registry', async () => {
    const auths: RegistryAuth[] = [];
    const source = new RegistryTemplateSource(local, '/cache', (_ref, auth) => {
      auths.push(auth);
      return Promise.resolve(pulled());
    });
    await source.resolve('127.0.0.1:5000/acme/vm-guest:1');
    expect(auths).toEqual([{ anonymous: true }]);
    await expect(source.resolve('127.0.0.1:5000/acme/vm-guest:1', { registry: '10.0.0.1:5000', token: 't' })).rejects.toMatchObject({ code: 'invalid_spec' });
  });

  it('reports a failed pull or an incomplete template as a driver error naming the template', async () => {
    const failing = new RegistryTemplateSource(local, '/cache', () => Promise.reject(new Error('401 unauthorized')));
    const error = await failing.resolve('127.0.0.1:5000/acme/vm-guest:1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DriverError);
    expect(error).toMatchObject({ code: 'image_not_found', message: expect.stringMatching(/vm-guest:1 could not be pulled: 401/) });
    const noKernel = new RegistryTemplateSource(local, '/cache', () => Promise.resolve(pulled({ kernel: null })));
    await expect(noKernel.resolve('127.0.0.1:5000/acme/vm-guest:1')).rejects.toMatchObject({ code: 'invalid_spec' });
  });
});
