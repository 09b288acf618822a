import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { compareTraces, readTrace, runExperiment, selectBackend, summarizeTrace } from '../src/api.js';
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
  // A study run needs tfjs's core and a backend, not the bundle's layers, converter, data or WebGL
  // (src/tf.cts: 109–174 ms of a process against 39–59 ms). require's cache is the process's one.
  const res = await runExperiment({ combo: 'relu-sigmoid-relu', seed: 1, epochs: 1, trainLimit: 64, testLimit: 32, backend: 'cpu' }, { out: join(dir, 'run') });
  assert.equal(res.status, 'complete');
  const tfjsPackages = new Set(Object.keys(createRequire(import.meta.url).cache).map((f) => f.match(/@tensorflow\/([^/]+)/)?.[1]).filter((p) => p));
  assert.deepEqual([...tfjsPackages].sort(), ['tfjs-backend-cpu', 'tfjs-core'], 'a study run loaded more of tfjs than its core and backends');
  // tfjs-core registers no gradients: the tape engine differentiates with tfjs's, which the bundle registers
  const tape = await runExperiment({ combo: 'relu-sigmoid-relu', seed: 1, epochs: 1, trainLimit: 64, testLimit: 32, backend: 'cpu', engine: 'tape' }, { out: join(dir, 'tape') });
  assert.equal(tape.status, 'complete');
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
