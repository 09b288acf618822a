#!/usr/bin/env node
// Assembles src/**/*.wat into dist/src/**/*.wasm (run by `npm run build` after tsc).
import { readdirSync, readFileSync, writeFileSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import initWabt from 'wabt';

const root = new URL('..', import.meta.url).pathname;
const wabt = await initWabt();
const walk = (d) => readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : [join(d, f)]));
for (const file of walk(join(root, 'src')).filter((f) => f.endsWith('.wat'))) {
  const mod = wabt.parseWat(file, readFileSync(file, 'utf8'), { simd: true });
  mod.validate();
  const { buffer } = mod.toBinary({});
  const out = join(root, 'dist', relative(root, file)).replace(/\.wat$/, '.wasm');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, buffer);
  mod.destroy();
}
