#!/usr/bin/env node
// Pushes the tiny VM guest built by deploy/images/vm-guest.sh to a running Gureum registry
// as a VM template (an OCI artifact, see docs/registry.md), by default as
// <tenant>/vm-guest:latest.
//
//   GUREUM_API_KEY=grm_… node deploy/images/push-vm-template.mjs --tenant demo \
//     [--registry 127.0.0.1:5000] [--dir .gureum/images/vm/tiny] [--repository vm-guest] [--tag latest]
//     [--vcpus-min 1] [--memory-mib-min 128]
//
// The API key is the password (the user name is the tenant, as with `docker login`); use a
// tenant owner's or member's key. Needs `npm run build` (it uses libs/oci-client/dist).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { values } = parseArgs({
  options: {
    registry: { type: 'string', default: '127.0.0.1:5000' },
    tenant: { type: 'string' },
    dir: { type: 'string', default: path.join(root, '.gureum/images/vm/tiny') },
    repository: { type: 'string', default: 'vm-guest' },
    tag: { type: 'string', default: 'latest' },
    'vcpus-min': { type: 'string', default: '1' },
    'memory-mib-min': { type: 'string', default: '128' },
  },
});
const apiKey = process.env.GUREUM_API_KEY;
if (!values.tenant || !apiKey) {
  console.error('usage: GUREUM_API_KEY=<key> node deploy/images/push-vm-template.mjs --tenant <tenant> [--registry host:port] [--dir <template dir>]');
  process.exit(2);
}

let client;
try {
  const loaded = await import(path.join(root, 'libs/oci-client/dist/index.js'));
  client = loaded.pushVmTemplate ? loaded : loaded.default; // CommonJS build: named exports may sit on default
} catch (error) {
  console.error(`cannot load libs/oci-client/dist (run npm run build first): ${error.message}`);
  process.exit(1);
}

const template = JSON.parse(await readFile(path.join(values.dir, 'template.json'), 'utf8'));
const files = {};
for (const key of ['kernel', 'initrd', 'disk']) if (template[key]) files[key] = path.join(values.dir, template[key]);
const config = {
  arch: 'x86_64',
  vcpusMin: Number(values['vcpus-min']),
  memoryMiBMin: Number(values['memory-mib-min']),
  bootMode: files.kernel ? 'kernel' : 'disk',
  cmdline: template.cmdline ?? 'console=ttyS0',
};
const ref = `${values.registry}/${values.tenant}/${values.repository}:${values.tag}`;
const started = Date.now();
const pushed = await client.pushVmTemplate(ref, { username: values.tenant, password: apiKey }, {
  config,
  files,
  annotations: {
    'org.opencontainers.image.title': template.name ?? values.repository,
    ...(template.kernelPackage ? { 'com.gureum.vm.kernel-package': template.kernelPackage } : {}),
  },
});
const bytes = pushed.manifest.layers.reduce((sum, layer) => sum + layer.size, 0);
console.log(`pushed ${ref}@${pushed.digest} (${pushed.manifest.layers.length} layers, ${bytes} bytes) in ${Date.now() - started} ms`);
