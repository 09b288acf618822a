import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Activation } from '../src/activations/index.js';
import { calibrate, cachedCalibration, fastest, mlpRig } from '../src/train/calibrate.js';
import { BatchBuilder } from '../src/train/batch.js';
import { loadMnist } from '../src/train/data.js';
import { readTrace } from '../src/trace/reader.js';
import { allModes, BIN, FIXTURES, ROOT, tmp, useBackend } from './helpers.js';

const node = (await allModes()).find((m) => m.name.startsWith('node'))!;

test('fastest takes the smallest time, a missing figure never wins, ties go to the earlier backend', () => {
  assert.equal(fastest({ node: 3, wasm: 2 }, ['node', 'wasm']), 'wasm');
  assert.equal(fastest({ node: 2, wasm: 3 }, ['node', 'wasm']), 'node');
  assert.equal(fastest({ node: 2, wasm: 2 }, ['node', 'wasm']), 'node');
  assert.equal(fastest({ wasm: 5 }, ['node', 'wasm']), 'wasm');
  assert.equal(fastest({ node: NaN, wasm: 5 }, ['node', 'wasm']), 'wasm');
});

test('--backend auto times tfjs-node and wasm, runs on the faster, records the figures, and reuses them from the cache', { skip: node.skip }, () => {
  const cache = tmp(), out = tmp();
  // whether the process mapped libtensorflow, told on exit (the binding alone costs ~1 s to load)
  const spy = join(cache, 'maps-spy.mjs');
  writeFileSync(spy, "import { readFileSync } from 'node:fs'; process.on('exit', () => { if (readFileSync('/proc/self/maps', 'utf8').includes('libtensorflow')) process.stderr.write('LIBTENSORFLOW_MAPPED\\n'); });");
  // a user's environment: none of the TF_* variables that loading tfjs-node sets (this test
  // process has loaded it, and its children would inherit them)
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TF_')));
  const run = (seed: number) => {
    const r = spawnSync(process.execPath, ['--import', spy, BIN, 'run', 'relu-sigmoid-relu', '--data-dir', FIXTURES, '--epochs', '1', '--seed', String(seed), '--quiet', '--json', '--out', out], { cwd: ROOT, encoding: 'utf8', env: { ...env, PROBE_CACHE: cache, FORCE_COLOR: '0' } });
    assert.equal(r.status, 0, r.stderr);
    // nothing from TensorFlow's own logging, whichever backend loaded
    assert.equal(r.stderr.replace('LIBTENSORFLOW_MAPPED\n', ''), '');
    const facts = readTrace(join(out, `relu-sigmoid-relu_s${seed}.arrow`)).facts;
    return { backend: JSON.parse(r.stdout).backend as string, calib: facts.backendCalibration!, recorded: facts.backend, tfLoaded: r.stderr.includes('LIBTENSORFLOW_MAPPED') };
  };
  const first = run(1);
  assert.equal(first.calib.cached, false);
  const ms = first.calib.msPerStep;
  assert.ok(ms.node > 0 && ms.wasm > 0, JSON.stringify(ms));
  assert.equal(first.backend, ms.node <= ms.wasm ? 'node' : 'wasm');
  assert.equal(first.recorded, first.backend);
  // the cached figures decide the next run: swap them, and the choice follows
  const file = join(cache, 'backend-calibration.json');
  const entries = JSON.parse(readFileSync(file, 'utf8'));
  const key = Object.keys(entries)[0];
  const slow = Math.max(ms.node, ms.wasm) * 10;
  for (const [seed, node, wasm, want] of [[2, 1, slow, 'node'], [3, slow, 1, 'wasm']] as const) {
    writeFileSync(file, JSON.stringify({ [key]: { msPerStep: { node, wasm }, measuredAt: '2026-01-01T00:00:00.000Z' } }));
    const next = run(seed);
    assert.equal(next.calib.cached, true);
    assert.deepEqual(next.calib.msPerStep, { node, wasm });
    assert.equal(next.backend, want);
    assert.equal(next.recorded, want);
    // with the answer cached, the slower backend is not even loaded
    assert.equal(next.tfLoaded, want === 'node', `libtensorflow ${next.tfLoaded ? '' : 'not '}loaded when ${want} is cached as faster`);
  }
});

test('auto times the run\'s own step: its first batches in the input form each backend gives the model (sparse on wasm for MNIST, dense on cpu), cached apart from random-data figures', async () => {
  const data = loadMnist({ trainLimit: 320 });
  const builder = new BatchBuilder(data.train, data.lut, data.lutOffset, data.classes);
  const w = { sizes: [784, 20, 10], activations: ['relu', 'sigmoid'] as Activation[], batch: 32, engine: 'fast' as const, bn: [false, false], hooks: () => null, input: builder };
  for (const [b, form] of [['wasm', 'sparse'], ['cpu', 'dense']] as const) {
    await useBackend(b);
    const rig = await mlpRig(w)();
    try {
      assert.equal(rig.inputForm, form, b);
      for (let s = 0; s < 12; s++) await rig.step(s); // past the 10 batches of the 320 samples
    } finally {
      rig.dispose();
    }
  }
  await useBackend('wasm');
  const cache = mkdtempSync(join(tmpdir(), 'probe-calib-'));
  process.env.PROBE_CACHE = cache;
  try {
    const c = await calibrate(w, ['wasm', 'cpu'], (b) => useBackend(b));
    assert.ok(c.msPerStep.wasm! > 0 && c.msPerStep.cpu! > 0, JSON.stringify(c.msPerStep));
    assert.ok(cachedCalibration(w, ['wasm', 'cpu']), 'cached');
    assert.equal(cachedCalibration({ ...w, input: undefined }, ['wasm', 'cpu']), null, 'random-data figures are another entry');
  } finally {
    delete process.env.PROBE_CACHE;
    rmSync(cache, { recursive: true, force: true });
  }
});
