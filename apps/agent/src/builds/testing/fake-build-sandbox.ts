import { createHash } from 'node:crypto';
import { EngineError } from '../../driver/docker/docker-engine';
import { FakeDockerEngine } from '../../driver/docker/testing/fake-docker-engine';
import type { BuildSandbox, BuildSandboxFactory, SandboxLimits } from '../build-sandbox';
import { readTar, writeTar } from '../image-archive';

/** A `docker save`-shaped archive of one tagged image whose config has `labels`. */
export function imageArchive(reference: string, labels: Record<string, string>): Buffer {
  const config = Buffer.from(JSON.stringify({ config: { Labels: labels }, container_config: { Labels: labels }, rootfs: { type: 'layers', diff_ids: [] } }));
  const configName = `${createHash('sha256').update(config).digest('hex')}.json`;
  const manifest = Buffer.from(JSON.stringify([{ Config: configName, RepoTags: [reference], Layers: [] }]));
  return writeTar([
    { name: configName, data: config },
    { name: 'manifest.json', data: manifest },
  ]);
}

/** FakeDockerEngine with `docker save`/`docker load` over real (tiny) archives; labels per image. */
export class FakeArchiveEngine extends FakeDockerEngine {
  readonly labels = new Map<string, Record<string, string>>();
  /** Labels every image this engine builds gets (e.g. inherited from a base). */
  builtLabels: Record<string, string> = {};
  readonly loaded: string[] = [];

  async saveImage(reference: string): Promise<Buffer> {
    this.calls.push(`saveImage ${reference}`);
    if (!this.images.has(reference)) throw new EngineError('not_found', `docker save ${reference}: reference does not exist`);
    return imageArchive(reference, this.labels.get(reference) ?? {});
  }

  async loadImage(archive: Buffer): Promise<void> {
    const entries = readTar(archive);
    const manifest = JSON.parse(entries.find((entry) => entry.name === 'manifest.json')?.data.toString('utf8') ?? '[]') as Array<{ Config: string; RepoTags: string[] }>;
    for (const item of manifest) {
      const config = JSON.parse(entries.find((entry) => entry.name === item.Config)?.data.toString('utf8') ?? '{}') as { config?: { Labels?: Record<string, string> } };
      for (const tag of item.RepoTags) {
        this.images.add(tag);
        this.labels.set(tag, config.config?.Labels ?? {});
        this.loaded.push(tag);
      }
    }
  }

  override async buildImage(context: Buffer, request: Parameters<FakeDockerEngine['buildImage']>[1], onOutput: (text: string) => void): Promise<void> {
    await super.buildImage(context, request, onOutput);
    this.labels.set(request.tag, { ...this.builtLabels, ...request.labels });
  }
}

/** Sandboxes as fresh FakeArchiveEngines; records what was made and disposed. */
export class FakeSandboxFactory implements BuildSandboxFactory {
  readonly created: Array<{ buildId: string; limits: SandboxLimits; engine: FakeArchiveEngine; disposed: boolean }> = [];
  reaped = 0;
  /** Set up each new sandbox engine (e.g. a build failure). */
  prepare: (engine: FakeArchiveEngine) => void = () => undefined;
  startFailure: string | undefined;

  async create(buildId: string, limits: SandboxLimits): Promise<BuildSandbox> {
    if (this.startFailure) throw new Error(this.startFailure);
    const engine = new FakeArchiveEngine();
    this.prepare(engine);
    const record = { buildId, limits, engine, disposed: false };
    this.created.push(record);
    return {
      engine,
      dispose: async () => {
        record.disposed = true;
      },
    };
  }

  async reap(): Promise<void> {
    this.reaped += 1;
  }
}
