#!/usr/bin/env node
// Assembles src/**/*.wat into dist/src/**/*.wasm (run by `npm run build` after tsc).
// A `NAME.wat.js` file is a generator: its default export, called with `{ relaxed }`, returns the
// module's text; it becomes NAME.wasm (with relaxed SIMD) and NAME-simd.wasm (plain SIMD only).
import { readdirSync, readFileSync, writeFileSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import initWabt from 'wabt';

const root = new URL('..', import.meta.url).pathname;
const wabt = await initWabt();
const walk = (d) => readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : [join(d, f)]));
function assemble(name, text, out) {
  const mod = wabt.parseWat(name, text, { simd: true, relaxed_simd: true });
  mod.validate();
  const { buffer } = mod.toBinary({});
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, buffer);
  mod.destroy();
}
for (const file of walk(join(root, 'src'))) {
  const out = join(root, 'dist', relative(root, file));
  if (file.endsWith('.wat')) assemble(file, readFileSync(file, 'utf8'), out.replace(/\.wat$/, '.wasm'));
  if (file.endsWith('.wat.js')) {
    const gen = (await import(pathToFileURL(file).href)).default;
    assemble(file, gen({ relaxed: true }), out.replace(/\.wat\.js$/, '.wasm'));
    assemble(file, gen({ relaxed: false }), out.replace(/\.wat\.js$/, '-simd.wasm'));
  }
}
