import { createHash } from 'node:crypto';
import { readTar, reservedLabelsIn, stripReservedLabels } from './image-archive';
import { imageArchive } from './testing/fake-build-sandbox';

function manifestOf(archive: Buffer): Array<{ Config: string; RepoTags: string[] }> {
  return JSON.parse(readTar(archive).find((entry) => entry.name === 'manifest.json')!.data.toString('utf8')) as Array<{ Config: string; RepoTags: string[] }>;
}

describe('stripReservedLabels', () => {
  it('removes io.gureum.* labels (any case) from config and container_config, renaming the config to its digest', () => {
    const archive = imageArchive('127.0.0.1:5000/acme/app:1', { 'io.gureum.managed': 'true', 'IO.GUREUM.workload': 'w', 'org.example': 'kept' });
    expect(reservedLabelsIn(archive).sort()).toEqual(['IO.GUREUM.workload', 'io.gureum.managed']);
    const { archive: stripped, removed } = stripReservedLabels(archive);
    expect(removed.sort()).toEqual(['IO.GUREUM.workload', 'io.gureum.managed']);
    expect(reservedLabelsIn(stripped)).toEqual([]);
    const [item] = manifestOf(stripped);
    expect(item!.RepoTags).toEqual(['127.0.0.1:5000/acme/app:1']);
    const config = readTar(stripped).find((entry) => entry.name === item!.Config)!;
    expect(item!.Config).toBe(`${createHash('sha256').update(config.data).digest('hex')}.json`);
    const json = JSON.parse(config.data.toString('utf8')) as { config: { Labels: Record<string, string> }; container_config: { Labels: Record<string, string> } };
    expect(json.config.Labels).toEqual({ 'org.example': 'kept' });
    expect(json.container_config.Labels).toEqual({ 'org.example': 'kept' });
    // A rewritten archive is still a valid tar: every header checksum adds up.
    for (const entry of readTar(stripped)) {
      let sum = 0;
      for (let i = 0; i < 512; i += 1) sum += i >= 148 && i < 156 ? 32 : (entry.header[i] ?? 0);
      expect(parseInt(entry.header.subarray(148, 154).toString('latin1'), 8)).toBe(sum);
    }
  });

  it('returns the archive untouched when there is nothing to remove', () => {
    const archive = imageArchive('a:1', { 'org.example': 'x' });
    expect(stripReservedLabels(archive)).toEqual({ archive, removed: [] });
  });

  it('refuses an archive without manifest', () => {
    expect(() => stripReservedLabels(Buffer.alloc(1024))).toThrow(/no manifest.json/);
  });
});
