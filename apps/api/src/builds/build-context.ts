/**
 * What the api needs to know about a build context before it accepts it: that it is a tar
 * with a Dockerfile at its root, and which base images that Dockerfile names (they may need
 * pull tokens). No extraction; headers are walked in place.
 */

const BLOCK = 512;

/** The root Dockerfile's text, or null when the tar has none (or is not a tar). */
export function readDockerfile(tar: Buffer): string | null {
  let offset = 0;
  let longName: string | null = null;
  while (offset + BLOCK <= tar.length) {
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((byte) => byte === 0)) return null;
    if (!checksumMatches(header)) return null;
    const size = parseOctal(header.subarray(124, 136));
    if (size === null) return null;
    const type = String.fromCharCode(header[156] ?? 0);
    const dataStart = offset + BLOCK;
    const data = tar.subarray(dataStart, dataStart + size);
    if (data.length < size) return null;
    offset = dataStart + Math.ceil(size / BLOCK) * BLOCK;

    if (type === 'L') {
      longName = cString(data);
      continue;
    }
    if (type === 'x') {
      longName = paxPath(data.toString('utf8')) ?? longName;
      continue;
    }
    const prefix = header.subarray(257, 263).toString('latin1').startsWith('ustar') ? cString(header.subarray(345, 500)) : '';
    const name = longName ?? (prefix ? `${prefix}/${cString(header.subarray(0, 100))}` : cString(header.subarray(0, 100)));
    longName = null;
    if ((type === '0' || type === '\0') && name.replace(/^\.\//, '') === 'Dockerfile') return data.toString('utf8');
  }
  return null;
}

/**
 * Images the Dockerfile's `FROM` lines name, without references to earlier stages
 * (`FROM build AS x`) and `scratch`. `ARG`-substituted names are returned as written.
 */
export function baseImagesOf(dockerfile: string): string[] {
  const stages = new Set<string>();
  const images: string[] = [];
  const lines = dockerfile.replace(/\\\r?\n/g, ' ').split(/\r?\n/);
  for (const raw of lines) {
    const line = raw.trim();
    const match = /^FROM\s+(.*)$/i.exec(line);
    if (!match) continue;
    const words = (match[1] ?? '').split(/\s+/).filter((word) => !word.startsWith('--'));
    const image = words[0];
    if (!image) continue;
    if (words.length >= 3 && words[1]?.toLowerCase() === 'as' && words[2]) stages.add(words[2].toLowerCase());
    if (image === 'scratch' || stages.has(image.toLowerCase())) continue;
    if (!images.includes(image)) images.push(image);
  }
  return images;
}

function checksumMatches(header: Buffer): boolean {
  const stored = parseOctal(header.subarray(148, 156));
  if (stored === null) return false;
  let sum = 0;
  for (let i = 0; i < BLOCK; i += 1) sum += i >= 148 && i < 156 ? 32 : (header[i] ?? 0);
  return sum === stored;
}

function parseOctal(field: Buffer): number | null {
  const text = cString(field).trim();
  if (!/^[0-7]+$/.test(text)) return text === '' ? 0 : null;
  return parseInt(text, 8);
}

function cString(field: Buffer): string {
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? field.length : end).toString('utf8');
}

function paxPath(records: string): string | null {
  for (const record of records.split('\n')) {
    const match = /^\d+ path=(.*)$/.exec(record);
    if (match) return match[1] ?? null;
  }
  return null;
}
