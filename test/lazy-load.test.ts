import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
