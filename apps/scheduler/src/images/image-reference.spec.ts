import { isPulledImage, registryImageOf } from './image-reference';

describe('registryImageOf', () => {
  it('splits a reference that names a registry into registry and repository', () => {
    expect(registryImageOf('127.0.0.1:5000/acme/app:1')).toEqual({ registry: '127.0.0.1:5000', repository: 'acme/app' });
    expect(registryImageOf('registry.example.com/acme/deep/app')).toEqual({ registry: 'registry.example.com', repository: 'acme/deep/app' });
    expect(registryImageOf(`localhost:5000/acme/app@sha256:${'a'.repeat(64)}`)).toEqual({ registry: 'localhost:5000', repository: 'acme/app' });
    expect(registryImageOf(`127.0.0.1:5000/acme/app:v2@sha256:${'b'.repeat(64)}`)).toEqual({ registry: '127.0.0.1:5000', repository: 'acme/app' });
  });

  it('treats bare names as local images, as Docker does', () => {
    expect(registryImageOf('gureum/busybox:latest')).toBeNull();
    expect(registryImageOf('busybox')).toBeNull();
    expect(isPulledImage('gureum/busybox')).toBe(false);
    expect(isPulledImage('127.0.0.1:5000/acme/app')).toBe(true);
  });
});
