import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compareTraces, readTrace, selectBackend, summarizeTrace } from '../src/api.js';
import { writeSyntheticTrace } from './synthetic.js';

// No helpers.js here: it imports tfjs. tfjs-core registers its engine as globalThis._tfengine on load.
const tfLoaded = () => '_tfengine' in globalThis;

test('the library API, every command module, reading and comparing traces load no tfjs; training does', async () => {
  for (const m of ['main', 'run', 'sweep', 'inspect', 'report', 'compare', 'export', 'watch']) await import(`../src/cli/${m}.js`);
  const dir = mkdtempSync(join(tmpdir(), 'probe-lazy-'));
  const a = writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.5 });
  const b = writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed: 2, acc: 0.6 });
  summarizeTrace(readTrace(a));
  compareTraces([a, b]);
  assert.equal(tfLoaded(), false, 'tfjs was loaded by an import that does not train');
  await selectBackend('cpu');
  assert.equal(tfLoaded(), true, 'the first call that trains loads it');
});

test('src loads tfjs\'s CommonJS packages with require (src/tf.cts, backend.ts), never with an ESM import, which would scan their files for named exports first', () => {
  // an ESM import of @tensorflow/tfjs took 255–290 ms of a process against 105–120 ms required (tf.cts)
  const src = fileURLToPath(new URL('../../src', import.meta.url));
  const files = readdirSync(src, { recursive: true, encoding: 'utf8' }).filter((f) => /\.(ts|cts)$/.test(f));
  assert.ok(files.length > 50, `found ${files.length} source files under ${src}`);
  const esm = /^\s*import\s+(?!type\b)[^;]*?from\s+'@tensorflow\/|\bimport\(\s*'@tensorflow\//m;
  const offenders = files.filter((f) => esm.test(readFileSync(join(src, f), 'utf8')));
  assert.deepEqual(offenders, [], 'these import a tfjs package as ESM: use tf.cjs (or require for a backend package)');
});
