import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { baseImagesOf, readDockerfile } from './build-context';

function tarOf(files: Record<string, string>, args: string[] = []): Buffer {
  const dir = mkdtempSync(path.join(tmpdir(), 'gureum-ctx-'));
  try {
    for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), content);
    return execFileSync('tar', ['-C', dir, '-c', ...args, ...Object.keys(files)]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('readDockerfile', () => {
  it('finds the root Dockerfile of a tar made by tar(1), in gnu and pax formats', () => {
    const dockerfile = 'FROM busybox\nRUN echo hi > /hi\n';
    expect(readDockerfile(tarOf({ 'hello.txt': 'x'.repeat(700), Dockerfile: dockerfile }))).toBe(dockerfile);
    expect(readDockerfile(tarOf({ Dockerfile: dockerfile }, ['--format=pax']))).toBe(dockerfile);
  });

  it('answers null without a Dockerfile, for garbage and for a truncated tar', () => {
    expect(readDockerfile(tarOf({ 'Dockerfile.txt': 'FROM x' }))).toBeNull();
    expect(readDockerfile(Buffer.from('not a tar at all'.repeat(100)))).toBeNull();
    const whole = tarOf({ Dockerfile: 'FROM busybox\n'.repeat(100) });
    expect(readDockerfile(whole.subarray(0, 600))).toBeNull();
  });
});

describe('baseImagesOf', () => {
  it('lists FROM images, skipping stages, scratch and flags', () => {
    const dockerfile = [
      'FROM --platform=linux/amd64 127.0.0.1:5000/acme/busybox:1 AS build',
      'RUN echo hi',
      'FROM build AS again',
      'FROM scratch',
      'from gureum/busybox',
      'FROM 127.0.0.1:5000/acme/busybox:1',
    ].join('\n');
    expect(baseImagesOf(dockerfile)).toEqual(['127.0.0.1:5000/acme/busybox:1', 'gureum/busybox']);
  });
});
