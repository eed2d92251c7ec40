import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { analyseDockerfile, baseImagesOf, BuildContextRefused, normaliseEntryName, readDockerfile } from './build-context';

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

function tarWithTwo(first: string, second: string, secondName: string): Buffer {
  const one = mkdtempSync(path.join(tmpdir(), 'gureum-ctx-'));
  const two = mkdtempSync(path.join(tmpdir(), 'gureum-ctx-'));
  try {
    writeFileSync(path.join(one, 'Dockerfile'), first);
    writeFileSync(path.join(two, secondName), second);
    execFileSync('tar', ['-C', one, '-cf', path.join(one, 'out.tar'), 'Dockerfile']);
    execFileSync('tar', ['-C', two, '-rf', path.join(one, 'out.tar'), `./${secondName}`]);
    return execFileSync('cat', [path.join(one, 'out.tar')]);
  } finally {
    rmSync(one, { recursive: true, force: true });
    rmSync(two, { recursive: true, force: true });
  }
}

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof BuildContextRefused) return error.rule;
    throw error;
  }
  return 'accepted';
}

describe('readDockerfile refuses ambiguous contexts', () => {
  it('refuses two entries that name the root Dockerfile, in any spelling Docker reads', () => {
    expect(refusal(() => readDockerfile(tarWithTwo('FROM a\n', 'FROM b\n', 'Dockerfile')))).toBe('ambiguous_dockerfile');
    expect(refusal(() => readDockerfile(tarWithTwo('FROM a\n', 'FROM b\n', 'dockerfile')))).toBe('ambiguous_dockerfile');
  });

  it('refuses a Dockerfile that is a symlink', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gureum-ctx-'));
    try {
      writeFileSync(path.join(dir, 'real'), 'FROM a\n');
      execFileSync('ln', ['-s', 'real', path.join(dir, 'Dockerfile')]);
      const tar = execFileSync('tar', ['-C', dir, '-c', 'real', 'Dockerfile']);
      expect(refusal(() => readDockerfile(tar))).toBe('ambiguous_dockerfile');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('normalises entry names as an extractor would', () => {
    expect(normaliseEntryName('./Dockerfile')).toBe('Dockerfile');
    expect(normaliseEntryName('.//./Dockerfile')).toBe('Dockerfile');
    expect(normaliseEntryName('sub/../Dockerfile')).toBe('Dockerfile');
    expect(normaliseEntryName('sub/Dockerfile')).toBe('sub/Dockerfile');
  });
});

describe('analyseDockerfile', () => {
  it('collects every image: FROM with ARG defaults, COPY --from that is not a stage', () => {
    const dockerfile = [
      'ARG REG=127.0.0.1:5000',
      'ARG BASE=${REG}/acme/base:1',
      'FROM $BASE AS build',
      'FROM \\',
      '  # a comment inside a continuation',
      '  127.0.0.1:5000/acme/run:2',
      'COPY --from=build /a /a',
      'COPY --from=0 /b /b',
      'COPY --from=127.0.0.1:5000/acme/tools:3 /c /c',
      'ARG LATE=ignored',
      'LABEL org.example.kind="a b" other=1',
    ].join('\n');
    expect(analyseDockerfile(dockerfile).images).toEqual(['127.0.0.1:5000/acme/base:1', '127.0.0.1:5000/acme/run:2', '127.0.0.1:5000/acme/tools:3']);
  });

  it('refuses what it cannot read as Docker does', () => {
    expect(refusal(() => analyseDockerfile('# escape=`\nFROM `\n a\n'))).toBe('parser_directive');
    expect(refusal(() => analyseDockerfile('# syntax=docker/dockerfile:1\nFROM a\n'))).toBe('parser_directive');
    expect(refusal(() => analyseDockerfile('FROM ${NOPE}\n'))).toBe('unresolved_reference');
    expect(refusal(() => analyseDockerfile('ARG B=x\nFROM ${B:-other}\n'))).toBe('unresolved_reference');
    expect(refusal(() => analyseDockerfile('ARG B\nFROM ${B}\n'))).toBe('unresolved_reference');
    expect(refusal(() => analyseDockerfile('FROM a\nCOPY --from=$X /a /a\n'))).toBe('unresolved_reference');
    expect(refusal(() => analyseDockerfile('FROM a\nADD http://127.0.0.1:8222/varz /v\n'))).toBe('remote_source');
    expect(refusal(() => analyseDockerfile('FROM a\nADD ["https://example.invalid/x", "/x"]\n'))).toBe('remote_source');
    expect(refusal(() => analyseDockerfile('FROM a\nADD git@example.invalid:x/y.git /y\n'))).toBe('remote_source');
    expect(refusal(() => analyseDockerfile('FROM 3f0a\n'))).toBe('image_id_reference');
    expect(refusal(() => analyseDockerfile('FROM a\nCOPY --from=sha256:3f0a6a8e /x /x\n'))).toBe('image_id_reference');
    expect(refusal(() => analyseDockerfile('FROM a\nLABEL io.gureum.managed=true\n'))).toBe('reserved_label');
    expect(refusal(() => analyseDockerfile('FROM a\nLABEL "IO.Gureum.node"="n"\n'))).toBe('reserved_label');
    expect(refusal(() => analyseDockerfile('FROM a\nLABEL io.gureum.workload victim\n'))).toBe('reserved_label');
    expect(refusal(() => analyseDockerfile('FROM a\nONBUILD COPY --from=x /a /a\n'))).toBe('unresolved_reference');
    expect(refusal(() => analyseDockerfile(Array.from({ length: 40 }, (_, i) => `FROM img${i}`).join('\n')))).toBe('too_many_images');
    // A directive-looking comment after the first instruction is only a comment, as for Docker.
    expect(refusal(() => analyseDockerfile('FROM a\n# escape=`\nRUN true\n'))).toBe('accepted');
  });
});
