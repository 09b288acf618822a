/**
 * The evaluation's figures lent in place (the tensors' own memory on wasm and cpu, copies
 * elsewhere) against the copies `evaluateDetail` reads back: the same numbers, no tensor left
 * behind, and the same diagnosis rows from `evaluateDiagnosed` as from the copies.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import type { Activation } from '../src/activations/index.js';
import { evaluateDiagnosed } from '../src/experiment/evaluate.js';
import { DiagnosisAccumulator } from '../src/study/diagnosis.js';
import { DEFAULT_PROBE_SETTINGS } from '../src/probes/probe.js';
import { BatchBuilder, disposeBatch } from '../src/train/batch.js';
import { Mlp, type EvalDetail } from '../src/train/engine.js';
import { initParams } from '../src/train/model.js';
import { rng } from '../src/train/rng.js';
import { allModes, useBackend } from './helpers.js';

const MODES = await allModes();
before(() => useBackend('wasm'));

const SIZES = [16, 11, 7, 4];
const ACT_SETS: Activation[][] = [['relu', 'sigmoid', 'relu'], ['tanh', 'selu', 'sigmoid'], ['selu', 'tanh', 'relu']];

function data(n: number, seed: number) {
  const r = rng(seed, 'in-place-data');
  const pixels = Uint8Array.from({ length: n * SIZES[0] }, () => r.int(256));
  const labels = Uint8Array.from({ length: n }, () => r.int(SIZES[3]));
  const lut = Float32Array.from({ length: 256 }, (_, b) => (b / 255 - 0.5) * 6);
  return { test: { n, dim: SIZES[0], pixels, labels }, lut, lutOffset: new Int32Array(SIZES[0]), classes: SIZES[3] };
}

function model(acts: Activation[], seed: number) {
  const arch = { sizes: SIZES, activations: acts };
  // batch norm on the middle layer: z is then the normalized pre-activation
  return new Mlp(arch, initParams(arch, seed), { lr: 0.01, momentum: 0.5 }, 'fast', [false, true, false]);
}

const copyOf = (d: EvalDetail) => ({ lossSum: d.lossSum, correct: d.correct, layers: d.layers.map((l) => ({ z: l.z.slice(), a: l.a.slice(), gradNorm: l.gradNorm.slice() })) });

for (const mode of MODES) test(`withEvaluateDetail lends the numbers evaluateDetail copies, and leaves no tensor (${mode.name})`, { skip: mode.skip }, async () => {
  await mode.enter();
  try {
    ACT_SETS.forEach((acts, k) => {
      const m = model(acts, 3 + k), d = data(37, k);
      const builder = new BatchBuilder(d.test, d.lut, d.lutOffset, d.classes);
      const batch = builder.build(Uint32Array.from({ length: 37 }, (_, i) => i), 0, 37);
      const want = m.evaluateDetail(batch);
      const before = tf.memory().numTensors;
      const got = m.withEvaluateDetail(batch, copyOf);
      assert.equal(tf.memory().numTensors, before, `${acts.join('-')}: tensors left`);
      assert.deepEqual(got, copyOf(want), acts.join('-'));
      // and when `use` throws, the tensors still go
      assert.throws(() => m.withEvaluateDetail(batch, () => { throw new Error('in use'); }), /in use/);
      assert.equal(tf.memory().numTensors, before, `${acts.join('-')}: tensors left after a throw`);
      disposeBatch(batch);
      m.dispose();
    });
  } finally {
    await mode.leave();
  }
});

for (const mode of MODES) test(`evaluateDiagnosed in place gives the rows of the read-back copies, in any chunking (${mode.name})`, { skip: mode.skip }, async () => {
  await mode.enter();
  try {
    const N = 101;
    ACT_SETS.forEach((acts, k) => {
      const m = model(acts, 7 + k), d = data(N, 10 + k);
      // the same evaluation from copies, in one chunk
      const builder = new BatchBuilder(d.test, d.lut, d.lutOffset, d.classes);
      const batch = builder.build(Uint32Array.from({ length: N }, (_, i) => i), 0, N);
      const r = m.evaluateDetail(batch);
      disposeBatch(batch);
      const acc = new DiagnosisAccumulator(acts, SIZES.slice(1), DEFAULT_PROBE_SETTINGS);
      acc.add({ n: N, labels: d.test.labels, layers: r.layers });
      const want = acc.finish(null);
      for (const chunk of [N, 32, 7]) {
        const ev = evaluateDiagnosed(m, d, DEFAULT_PROBE_SETTINGS, null, chunk);
        const what = `${acts.join('-')} in chunks of ${chunk}`;
        assert.ok(Math.abs(ev.loss - r.lossSum / N) <= 1e-6 * Math.abs(r.lossSum / N), `${what}: loss`);
        assert.equal(ev.acc, r.correct / N, `${what}: accuracy`);
        assert.deepEqual(ev.diagnosis.rows.map((x) => `${x.layer}/${x.metric}`), want.rows.map((x) => `${x.layer}/${x.metric}`));
        ev.diagnosis.rows.forEach((x, i) => {
          const w = want.rows[i].value;
          // chunks change the float sums' grouping (gradient norms, mean derivative), nothing else
          const ok = Object.is(x.value, w) || Math.abs(x.value - w) <= 1e-6 * Math.abs(w);
          assert.ok(ok, `${what}: ${x.layer}/${x.metric} ${x.value} vs ${w}`);
        });
      }
      m.dispose();
    });
  } finally {
    await mode.leave();
  }
});
