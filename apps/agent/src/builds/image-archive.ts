import { createHash } from 'node:crypto';

/**
 * `docker save` archives (the classic format: manifest.json, `<id>.json` configs, layer tars)
 * walked and rewritten in memory. Used to take the agent's reserved `io.gureum.*` labels out
 * of an image's config before it leaves the node: a label in an image becomes a label on every
 * container made from it, and those labels are the agent's, never a tenant's (issue 20, hole 4).
 * The layers are untouched, so the rewritten config's diff_ids still match them.
 */

const BLOCK = 512;
export const RESERVED_LABEL_PREFIX = 'io.gureum.';

interface Entry {
  header: Buffer;
  name: string;
  data: Buffer;
}

export function isReservedLabel(key: string): boolean {
  return key.toLowerCase().startsWith(RESERVED_LABEL_PREFIX);
}

/** The `io.gureum.*` labels of every image config in the archive. */
export function reservedLabelsIn(archive: Buffer): string[] {
  const entries = readTar(archive);
  const found = new Set<string>();
  for (const config of configsOf(entries)) for (const key of labelKeys(config.json)) if (isReservedLabel(key)) found.add(key);
  return [...found];
}

/**
 * The archive with every `io.gureum.*` label removed from each image's config (`config.Labels`
 * and `container_config.Labels`), each config renamed to its new digest and manifest.json
 * pointing at it. The archive itself when there was nothing to remove.
 */
export function stripReservedLabels(archive: Buffer): { archive: Buffer; removed: string[] } {
  const entries = readTar(archive);
  const manifestEntry = entries.find((entry) => entry.name === 'manifest.json');
  if (!manifestEntry) throw new Error('the image archive has no manifest.json');
  const manifest = JSON.parse(manifestEntry.data.toString('utf8')) as Array<{ Config: string; RepoTags?: string[] | null; Layers: string[] }>;
  const removed = new Set<string>();
  const renames = new Map<string, { name: string; data: Buffer }>();
  for (const item of manifest) {
    const entry = entries.find((candidate) => candidate.name === item.Config);
    if (!entry) throw new Error(`the image archive has no config ${item.Config}`);
    const json = JSON.parse(entry.data.toString('utf8')) as ImageConfig;
    let changed = false;
    for (const section of [json.config, json.container_config]) {
      if (!section?.Labels) continue;
      for (const key of Object.keys(section.Labels)) {
        if (!isReservedLabel(key)) continue;
        delete section.Labels[key];
        removed.add(key);
        changed = true;
      }
    }
    if (!changed) continue;
    const data = Buffer.from(JSON.stringify(json), 'utf8');
    const name = `${createHash('sha256').update(data).digest('hex')}.json`;
    renames.set(item.Config, { name, data });
    item.Config = name;
  }
  if (removed.size === 0) return { archive, removed: [] };
  const out: Buffer[] = [];
  for (const entry of entries) {
    const rename = renames.get(entry.name);
    if (rename) out.push(...entryBlocks(entry.header, rename.name, rename.data));
    else if (entry === manifestEntry) out.push(...entryBlocks(entry.header, entry.name, Buffer.from(JSON.stringify(manifest), 'utf8')));
    else out.push(...entryBlocks(entry.header, null, entry.data));
  }
  out.push(Buffer.alloc(BLOCK * 2));
  return { archive: Buffer.concat(out), removed: [...removed] };
}

interface ImageConfig {
  config?: { Labels?: Record<string, string> | null };
  container_config?: { Labels?: Record<string, string> | null };
}

function configsOf(entries: Entry[]): Array<{ name: string; json: ImageConfig }> {
  const manifestEntry = entries.find((entry) => entry.name === 'manifest.json');
  if (!manifestEntry) throw new Error('the image archive has no manifest.json');
  const manifest = JSON.parse(manifestEntry.data.toString('utf8')) as Array<{ Config: string }>;
  return manifest.map((item) => {
    const entry = entries.find((candidate) => candidate.name === item.Config);
    if (!entry) throw new Error(`the image archive has no config ${item.Config}`);
    return { name: item.Config, json: JSON.parse(entry.data.toString('utf8')) as ImageConfig };
  });
}

function labelKeys(config: ImageConfig): string[] {
  return [...Object.keys(config.config?.Labels ?? {}), ...Object.keys(config.container_config?.Labels ?? {})];
}

/** Regular ustar entries as `docker save` writes them (no PAX or GNU long names are needed for its short names). */
export function readTar(tar: Buffer): Entry[] {
  const entries: Entry[] = [];
  let offset = 0;
  while (offset + BLOCK <= tar.length) {
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((byte) => byte === 0)) break;
    const size = parseInt(cString(header.subarray(124, 136)).trim() || '0', 8);
    if (!Number.isFinite(size) || size < 0) throw new Error(`bad tar header at ${offset}`);
    const type = String.fromCharCode(header[156] ?? 0);
    if (type === 'x' || type === 'g' || type === 'L' || type === 'K') throw new Error(`unsupported tar entry type ${type} in an image archive`);
    const prefix = header.subarray(257, 263).toString('latin1').startsWith('ustar') ? cString(header.subarray(345, 500)) : '';
    const base = cString(header.subarray(0, 100));
    const name = prefix ? `${prefix}/${base}` : base;
    const dataStart = offset + BLOCK;
    const data = tar.subarray(dataStart, dataStart + size);
    if (data.length < size) throw new Error('truncated image archive');
    entries.push({ header: Buffer.from(header), name, data });
    offset = dataStart + Math.ceil(size / BLOCK) * BLOCK;
  }
  return entries;
}

/** The entry's header (renamed and resized when asked) and its data, padded to blocks. */
function entryBlocks(original: Buffer, newName: string | null, data: Buffer): Buffer[] {
  const header = Buffer.from(original);
  if (newName !== null) {
    if (Buffer.byteLength(newName) > 99) throw new Error(`tar name too long: ${newName}`);
    header.fill(0, 0, 100);
    header.write(newName, 0, 'utf8');
    header.fill(0, 345, 500);
  }
  header.fill(0, 124, 136);
  header.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  header.fill(32, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i += 1) sum += header[i] ?? 0;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  const padding = (BLOCK - (data.length % BLOCK)) % BLOCK;
  return [header, data, Buffer.alloc(padding)];
}

function cString(field: Buffer): string {
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? field.length : end).toString('utf8');
}

/** A plain ustar archive of regular files (tests and fakes make `docker save`-shaped archives with it). */
export function writeTar(files: Array<{ name: string; data: Buffer }>): Buffer {
  const out: Buffer[] = [];
  for (const file of files) {
    const header = Buffer.alloc(BLOCK);
    header.write('0000644\0', 100, 'latin1');
    header.write('0000000\0', 108, 'latin1');
    header.write('0000000\0', 116, 'latin1');
    header.write('00000000000\0', 136, 'latin1');
    header.write('0', 156, 'latin1');
    header.write('ustar\u000000', 257, 'latin1');
    out.push(...entryBlocks(header, file.name, file.data));
  }
  out.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(out);
}
