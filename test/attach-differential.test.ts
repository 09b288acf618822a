import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Activation } from '../src/activations/index.js';
import { attachProbes } from '../src/attach/session.js';
import { studySequential } from '../src/attach/study-model.js';
import { runExperiment } from '../src/experiment/run.js';
import { loadDataset } from '../src/train/data.js';
import { BatchBuilder, disposeBatch } from '../src/train/batch.js';
import { initParams } from '../src/train/model.js';
import { permutation, rng } from '../src/train/rng.js';
import { readTrace, type Trace } from '../src/trace/reader.js';
import { RunProbe } from '../src/trace/schema.js';
import { FIXTURES, tmp, useBackend } from './helpers.js';
import { DIAGNOSIS_PROBE, UNIT_ACTIVITY_PROBE } from '../src/trace/metrics.js';

before(() => useBackend('wasm'));

const SIZES = [784, 500, 256, 10];
/** every activation the engine has, in a hidden and in the output position */
const COMBOS: Activation[][] = [['relu', 'sigmoid', 'relu'], ['tanh', 'selu', 'sigmoid'], ['selu', 'relu', 'tanh'], ['sigmoid', 'tanh', 'selu']];
const SEED = 3, LIMIT = 128, EPOCHS = 2, BATCH = 32;

/** step → "layer/probe/metric" → value, for the rows of probed steps */
function stepRows(t: Trace): Map<number, Map<string, number>> {
  const c = t.columns;
  const out = new Map<number, Map<string, number>>();
  for (let i = 0; i < c.length; i++) {
    const probe = c.probes[c.probe[i]];
    // evaluation-time diagnosis and per-unit activity windows are the engine's own (the attached
    // path does not record them yet): compare the per-step probes both paths have
    if (probe === RunProbe.eval || probe === RunProbe.timing || probe === DIAGNOSIS_PROBE || probe === UNIT_ACTIVITY_PROBE) continue;
    let m = out.get(c.step[i]);
    if (!m) out.set(c.step[i], (m = new Map()));
    m.set(`${c.layer[i]}/${probe}/${c.metrics[c.metric[i]]}`, c.value[i]);
  }
  return out;
}

/**
 * Tolerances. Both paths compute in float32 but sum in different orders (tfjs-layers: x·W with W
 * [in, out]; the engine: W·x with W [out, in]) and the optimizer step is measured as
 * w_before − w_after instead of lr·v, which cancels digits: relative 2e-3 on continuous values
 * over these 8 steps. Shares (dead/saturated/accuracy) are counts over a batch: equal up to one
 * entry flipping sides of a threshold, 1/(units·batch), or one sample, 1/batch.
 */
function close(key: string, a: number, b: number): boolean {
  const discrete = /dead_|inactive_frac|active_u|sat_|accuracy/.test(key);
  if (discrete) return Math.abs(a - b) <= 1 / BATCH + 1e-6;
  return Math.abs(a - b) <= 1e-5 + 2e-3 * Math.abs(b);
}

for (const acts of COMBOS) {
  test(`attached probes on a tf.sequential MLP match the engine's trace step by step: ${acts.join('-')}`, async () => {
    const dir = tmp();
    const combo = acts.join('-');
    const engine = await runExperiment(
      { combo, seed: SEED, epochs: EPOCHS, trainLimit: LIMIT, testLimit: 64, dataDir: FIXTURES, backend: 'wasm', batch: BATCH, every: 1 },
      { out: join(dir, 'engine') },
    );
    // the same batches, in the same order, through model.fit
    const data = loadDataset({ dataDir: FIXTURES, trainLimit: LIMIT, testLimit: 64 });
    const model = studySequential(acts, initParams({ sizes: SIZES, activations: acts }, SEED), { lr: 0.01, momentum: 0.5 });
    const session = attachProbes(model, { out: join(dir, 'attached'), name: combo });
    const builder = new BatchBuilder(data.train, data.lut, data.lutOffset, data.classes);
    for (let epoch = 1; epoch <= EPOCHS; epoch++) {
      const order = permutation(data.train.n, rng(SEED, 'shuffle', epoch));
      const b = builder.build(order, 0, data.train.n);
      await model.fit(b.xb!, b.onehot, { batchSize: BATCH, epochs: epoch, initialEpoch: epoch - 1, shuffle: false, verbose: 0, callbacks: [session.callback] });
      disposeBatch(b);
    }
    session.close();
    const want = stepRows(readTrace(engine.path));
    const got = stepRows(readTrace(session.path));
    assert.equal(got.size, want.size, 'probed steps');
    assert.equal(want.size, EPOCHS * Math.ceil(LIMIT / BATCH));
    let compared = 0;
    for (const [step, w] of want) {
      const g = got.get(step);
      assert.ok(g, `step ${step} missing`);
      assert.deepEqual([...g.keys()].sort(), [...w.keys()].sort(), `step ${step}: the same layers, probes and metrics`);
      for (const [k, v] of w) {
        assert.ok(close(k, g.get(k)!, v), `step ${step} ${k}: attached ${g.get(k)} vs engine ${v}`);
        compared++;
      }
    }
    assert.ok(compared > 100);
    model.dispose();
  });
}
