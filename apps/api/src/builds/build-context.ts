/**
 * What the api needs to know about a build context before it accepts it: that it is a tar
 * with exactly one Dockerfile at its root, and every image that Dockerfile can use (each needs
 * the tenant's pull right). No extraction; headers are walked in place.
 */

const BLOCK = 512;

/**
 * Why a context is refused: a stable `rule` (first word of the problem's detail and of its
 * `errors[0].message`) and a sentence for the tenant.
 */
export class BuildContextRefused extends Error {
  constructor(
    readonly rule: BuildContextRule,
    message: string,
  ) {
    super(`${rule}: ${message}`);
    this.name = 'BuildContextRefused';
  }
}

export type BuildContextRule =
  | 'ambiguous_dockerfile'
  | 'parser_directive'
  | 'remote_source'
  | 'unresolved_reference'
  | 'image_id_reference'
  | 'reserved_label'
  | 'too_many_images';

/** At most this many images per build (each needs a pull token). */
export const MAX_BUILD_IMAGES = 32;

/**
 * The root Dockerfile's text, or null when the tar has none (or is not a tar). Refuses
 * (`ambiguous_dockerfile`) a tar in which more than one entry — of any type, in any spelling
 * Docker would read as the root Dockerfile (`./Dockerfile`, `//Dockerfile`, `dockerfile`) — names
 * it, or in which it is not a regular file: Docker reads the last entry, and we must read what
 * Docker reads.
 */
export function readDockerfile(tar: Buffer): string | null {
  let offset = 0;
  let longName: string | null = null;
  let found: string | null = null;
  let count = 0;
  while (offset + BLOCK <= tar.length) {
    const header = tar.subarray(offset, offset + BLOCK);
    if (header.every((byte) => byte === 0)) break;
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
    if (type === 'g' || type === 'K') continue;
    const prefix = header.subarray(257, 263).toString('latin1').startsWith('ustar') ? cString(header.subarray(345, 500)) : '';
    const name = longName ?? (prefix ? `${prefix}/${cString(header.subarray(0, 100))}` : cString(header.subarray(0, 100)));
    longName = null;
    if (normaliseEntryName(name).toLowerCase() !== 'dockerfile') continue;
    count += 1;
    if (count > 1) throw new BuildContextRefused('ambiguous_dockerfile', 'the build context has more than one entry named Dockerfile');
    if (type !== '0' && type !== '\0') throw new BuildContextRefused('ambiguous_dockerfile', 'the Dockerfile in the build context must be a regular file');
    found = data.toString('utf8');
  }
  return found;
}

/** `./a//b/./Dockerfile/` → `a/b/Dockerfile`, as an extractor would place it. */
export function normaliseEntryName(name: string): string {
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return parts.join('/');
}

/** Every image a Dockerfile can use: each FROM and each `COPY --from=` that is no stage, after ARG substitution. */
export function baseImagesOf(dockerfile: string): string[] {
  return analyseDockerfile(dockerfile).images;
}

/**
 * Reads a Dockerfile as Docker's classic builder would, strictly enough to know every image it
 * can use, and refuses what it cannot read the same way: parser directives (`# escape=`,
 * `# syntax=`), remote sources in ADD/COPY (the builder would fetch them), FROM or `--from`
 * it cannot resolve from the global ARG defaults (builds take no build args), image-id
 * references, and `io.gureum.*` labels (the agent's). Defence in depth: the build sandbox,
 * which holds only the authorised images and has no network, is the boundary.
 */
export function analyseDockerfile(dockerfile: string): { images: string[] } {
  const images: string[] = [];
  const stages: string[] = [];
  const globalArgs = new Map<string, string>();
  let seenInstruction = false;
  const add = (image: string) => {
    if (/^(sha256:)?[a-f0-9]{4,64}$/i.test(image)) throw new BuildContextRefused('image_id_reference', `${image} looks like an image id; name images by repository and tag`);
    if (!images.includes(image)) images.push(image);
    if (images.length > MAX_BUILD_IMAGES) throw new BuildContextRefused('too_many_images', `a build may use at most ${MAX_BUILD_IMAGES} images`);
  };
  for (const instruction of instructionsOf(dockerfile)) {
    if (instruction.directive) {
      if (!seenInstruction) throw new BuildContextRefused('parser_directive', `parser directives (${instruction.directive}) are not supported in builds`);
      continue;
    }
    seenInstruction = true;
    const words = splitWords(instruction.rest);
    switch (instruction.keyword) {
      case 'ARG': {
        if (stages.length > 0) break;
        for (const word of words) {
          const eq = word.indexOf('=');
          const name = eq < 0 ? word : word.slice(0, eq);
          if (eq >= 0) globalArgs.set(name, substitute(unquote(word.slice(eq + 1)), globalArgs, 'an ARG default'));
          else globalArgs.set(name, '');
        }
        break;
      }
      case 'FROM': {
        const positional = words.filter((word) => !word.startsWith('--'));
        const raw = positional[0];
        if (!raw) throw new BuildContextRefused('unresolved_reference', 'a FROM names no image');
        if (words.some((word) => word.startsWith('--') && word.includes('$'))) throw new BuildContextRefused('unresolved_reference', 'FROM flags may not use variables');
        const image = substitute(raw, globalArgs, 'FROM');
        if (image === '') throw new BuildContextRefused('unresolved_reference', `FROM ${raw} names no image: the ARG has no default`);
        const alias = positional.length >= 3 && positional[1]?.toLowerCase() === 'as' ? positional[2]?.toLowerCase() : undefined;
        if (image.toLowerCase() !== 'scratch' && !stages.includes(image.toLowerCase())) add(image);
        stages.push(alias ?? `#${stages.length}`);
        break;
      }
      case 'COPY':
      case 'ADD': {
        for (const word of words) {
          if (!word.startsWith('--')) continue;
          const flag = /^--from=(.*)$/i.exec(word);
          if (!flag) continue;
          const from = unquote(flag[1] ?? '');
          if (from.includes('$')) throw new BuildContextRefused('unresolved_reference', `${instruction.keyword} --from may not use variables`);
          if (/^\d+$/.test(from) && Number(from) < stages.length) continue;
          if (stages.includes(from.toLowerCase())) continue;
          add(from);
        }
        const sources = words.filter((word) => !word.startsWith('--'));
        for (const source of sources.slice(0, -1)) {
          if (/^[a-z][a-z0-9+.-]*:\/\//i.test(unquote(source)) || /^git@/i.test(unquote(source))) {
            throw new BuildContextRefused('remote_source', `${instruction.keyword} ${source}: builds may only use files from the build context`);
          }
        }
        break;
      }
      case 'LABEL': {
        const pairs = words.some((word) => word.includes('=')) ? words.map((word) => word.split('=')[0] ?? '') : words.slice(0, 1);
        for (const key of pairs.map(unquote)) {
          if (key.includes('$') || key.toLowerCase().startsWith('io.gureum.')) throw new BuildContextRefused('reserved_label', `LABEL ${key}: io.gureum.* labels are the agent's and may not be set by a build`);
        }
        break;
      }
      case 'ONBUILD': {
        if (/^(from|add|copy)\b/i.test(instruction.rest.trim()) || /io\.gureum\./i.test(instruction.rest)) {
          throw new BuildContextRefused('unresolved_reference', 'ONBUILD may not add files, name images or set reserved labels');
        }
        break;
      }
      default:
        break;
    }
  }
  return { images };
}

interface Instruction {
  keyword: string;
  rest: string;
  /** `escape` / `syntax` when the line is a parser directive (`# escape=…`). */
  directive?: string;
}

/** Logical lines: `\`-continuations joined, comment and blank lines inside them skipped, as the classic builder does. */
function instructionsOf(dockerfile: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = dockerfile.replace(/^\uFEFF/, '').split(/\r?\n/);
  let current: string | null = null;
  for (const line of lines) {
    const directive = /^\s*#\s*([a-z]+)\s*=/i.exec(line);
    if (current === null) {
      if (directive && ['escape', 'syntax', 'check'].includes((directive[1] ?? '').toLowerCase())) {
        out.push({ keyword: '', rest: '', directive: (directive[1] ?? '').toLowerCase() });
        continue;
      }
      if (/^\s*(#|$)/.test(line)) continue;
    } else if (/^\s*(#|$)/.test(line)) {
      continue;
    }
    const continued = /\\\s*$/.test(line);
    const text = continued ? line.replace(/\\\s*$/, '') : line;
    current = current === null ? text : `${current} ${text}`;
    if (continued) continue;
    const match = /^\s*(\S+)\s*(.*)$/s.exec(current);
    current = null;
    if (match) out.push({ keyword: (match[1] ?? '').toUpperCase(), rest: match[2] ?? '' });
  }
  if (current !== null) {
    const match = /^\s*(\S+)\s*(.*)$/s.exec(current);
    if (match) out.push({ keyword: (match[1] ?? '').toUpperCase(), rest: match[2] ?? '' });
  }
  return out;
}

/** Whitespace-separated words, keeping quoted parts together; a JSON array form is read as its strings. */
function splitWords(text: string): string[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    try {
      const parsed = JSON.parse(trimmed) as unknown;
      if (Array.isArray(parsed) && parsed.every((item) => typeof item === 'string')) return parsed as string[];
    } catch {
      // not JSON: read as words
    }
  }
  const words: string[] = [];
  let word = '';
  let quote: string | null = null;
  for (const char of trimmed) {
    if (quote) {
      word += char;
      if (char === quote) quote = null;
    } else if (char === '"' || char === "'") {
      quote = char;
      word += char;
    } else if (/\s/.test(char)) {
      if (word) words.push(word);
      word = '';
    } else {
      word += char;
    }
  }
  if (word) words.push(word);
  return words;
}

function unquote(text: string): string {
  return text.replace(/^(["'])(.*)\1$/s, '$2');
}

/** `$NAME` / `${NAME}` from the global ARG defaults; any other form (modifiers, unknown names) is refused. */
function substitute(text: string, args: Map<string, string>, what: string): string {
  const value = unquote(text).replace(/\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g, (_whole, braced: string | undefined, bare: string | undefined) => {
    const name = braced ?? bare ?? '';
    const found = args.get(name);
    if (found === undefined) throw new BuildContextRefused('unresolved_reference', `${what} uses \${${name}}, which no ARG before the first FROM defines`);
    return found;
  });
  if (value.includes('$') || value.includes('\\')) throw new BuildContextRefused('unresolved_reference', `${what} ${text} cannot be resolved`);
  return value;
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
