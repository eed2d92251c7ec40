#!/usr/bin/env node
// Compiles one project's src/ to dist/ with swc. Types are checked separately by
// `npm run typecheck` (one tsc program over the whole workspace), so the build is fast.
import { transformFile } from '@swc/core';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const swcOptions = require('./swc-options.cjs');

const projectRoot = process.argv[2];
if (!projectRoot) {
  console.error('usage: node tools/build.mjs <projectRoot>');
  process.exit(2);
}
const src = path.resolve(projectRoot, 'src');
const out = path.resolve(projectRoot, 'dist');

async function* sources(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    // Test doubles live in `testing/` folders next to the code they fake; they never ship.
    if (entry.isDirectory()) {
      if (entry.name !== 'testing') yield* sources(full);
    }
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts') && !entry.name.endsWith('.d.ts')) yield full;
  }
}

await rm(out, { recursive: true, force: true });
let count = 0;
for await (const file of sources(src)) {
  const target = path.join(out, path.relative(src, file)).replace(/\.ts$/, '.js');
  const result = await transformFile(file, { ...swcOptions, filename: file, sourceFileName: path.relative(path.dirname(target), file) });
  await mkdir(path.dirname(target), { recursive: true });
  await writeFile(target, `${result.code}\n//# sourceMappingURL=${path.basename(target)}.map\n`);
  if (result.map) await writeFile(`${target}.map`, result.map);
  count += 1;
}
console.log(`built ${projectRoot}: ${count} files`);
