import { UNIT_WINDOWS_PER_EPOCH } from '../src/trace/metrics.js';
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { attachProbes, tolerant } from '../src/attach/session.js';
import { DEFAULT_PROBE_SETTINGS } from '../src/probes/probe.js';
import { readTrace, type Trace } from '../src/trace/reader.js';
import { metricRows } from '../src/trace/summary.js';
import { ProbeError } from '../src/errors.js';
import { rng } from '../src/train/rng.js';
import { runCli, tmp, useBackend } from './helpers.js';
import { digestTrace, NO_CHARTS } from '../src/read/digest.js';

before(() => useBackend('wasm'));

const H = 7, W = 7, B = 6, C1 = 4, C2 = 3, K = 3;

function seeded(n: number, seed: number, scale: number): Float32Array {
  const r = rng(seed, 'attach-test');
  return Float32Array.from({ length: n }, () => (2 * r.float() - 1) * scale);
}

/** Conv2D(relu) → Conv2D(sigmoid, no bias) → MaxPool → Flatten → Dropout → Dense(6) → Activation(tanh) → Dense(10, softmax). */
function convNet() {
  const m = tf.sequential({ name: 'convnet' });
  m.add(tf.layers.conv2d({ inputShape: [H, W, 1], filters: C1, kernelSize: K, activation: 'relu', name: 'conv_relu' }));
  m.add(tf.layers.conv2d({ filters: C2, kernelSize: K, activation: 'sigmoid', useBias: false, name: 'conv_sig' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 3, name: 'pool' }));
  m.add(tf.layers.flatten({ name: 'flat' }));
  m.add(tf.layers.dropout({ rate: 0.0, name: 'drop' }));
  m.add(tf.layers.dense({ units: 6, name: 'fc' }));
  m.add(tf.layers.activation({ activation: 'tanh', name: 'act_tanh' }));
  m.add(tf.layers.dense({ units: 10, activation: 'softmax', name: 'out' }));
  const k1 = seeded(K * K * 1 * C1, 1, 1);
  // channel 1 can never fire; on the all-zero sample 0 every channel sits at its bias ≤ 0
  const b1 = Float32Array.from([-0.1, -100, -0.5, 0]);
  const k2 = seeded(K * K * C1 * C2, 2, 4); // large weights: the sigmoid saturates in places
  m.layers[0].setWeights([tf.tensor4d(k1, [K, K, 1, C1]), tf.tensor1d(b1)]);
  m.layers[1].setWeights([tf.tensor4d(k2, [K, K, C1, C2])]);
  m.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy' });
  return { m, k1, b1, k2 };
}

function inputs(): Float32Array {
  const x = seeded(B * H * W, 3, 1);
  x.fill(0, 0, H * W); // sample 0 all zero: every channel of conv_relu sits at its bias
  return x;
}

/** Valid 3×3 convolution (cross-correlation, as tf.conv2d), float64: [B, h, w, cin] → [B, h−2, w−2, cout]. */
function conv(x: ArrayLike<number>, h: number, w: number, cin: number, k: ArrayLike<number>, b: ArrayLike<number> | null, cout: number): { z: Float64Array; h: number; w: number } {
  const ho = h - K + 1, wo = w - K + 1;
  const z = new Float64Array(B * ho * wo * cout);
  for (let s = 0; s < B; s++) for (let i = 0; i < ho; i++) for (let j = 0; j < wo; j++) for (let c = 0; c < cout; c++) {
    let v = b ? b[c] : 0;
    for (let di = 0; di < K; di++) for (let dj = 0; dj < K; dj++) for (let ci = 0; ci < cin; ci++) {
      v += x[((s * h + i + di) * w + j + dj) * cin + ci] * k[((di * K + dj) * cin + ci) * cout + c];
    }
    z[((s * ho + i) * wo + j) * cout + c] = v;
  }
  return { z, h: ho, w: wo };
}

/**
 * A Dense layer of fixed weights `k` [F, U] and bias `b` on inputs `x` [S, F] (its activation
 * fused, or none), then `rest`, probed for one step by a frozen SGD (lr 0): the trace, and the
 * Dense layer's z = xk + b in float64 per (sample, unit) as the reference.
 */
async function frozenStep(o: { name: string; x: Float32Array; k: Float32Array; b: Float32Array; S: number; F: number; U: number; activation?: 'hardSigmoid'; rest: tf.layers.Layer[]; labels: number[] }) {
  const { S, F, U, x, k, b } = o;
  const m = tf.sequential({ layers: [
    tf.layers.dense({ units: U, inputShape: [F], ...(o.activation ? { activation: o.activation } : {}), weights: [tf.tensor2d(k, [F, U]), tf.tensor1d(b)] }),
    ...o.rest,
  ] });
  m.compile({ optimizer: tf.train.sgd(0), loss: 'categoricalCrossentropy' });
  const session = attachProbes(m, { out: tmp(), name: o.name });
  const xt = tf.tensor2d(x, [S, F]), y = tf.oneHot(tf.tensor1d(o.labels, 'int32'), 2).toFloat();
  await m.fit(xt, y, { batchSize: S, epochs: 1, shuffle: false, verbose: 0, callbacks: [session.callback] });
  session.close();
  tf.dispose([xt, y]);
  m.dispose();
  const z = (s: number, u: number) => {
    let v = b[u];
    for (let f = 0; f < F; f++) v += x[s * F + f] * k[f * U + u];
    return v;
  };
  return { t: readTrace(session.path), path: session.path, z };
}

function at(t: Trace, layer: number, probe: string, metric: string): number {
  const r = metricRows(t, probe, metric, layer);
  assert.ok(r.value.length > 0, `layer ${layer} ${probe}/${metric} recorded`);
  return r.value[0];
}

// tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter: convolutions train on cpu (or tfjs-node)
test('Conv2D probes count a channel as a unit: dead/saturation values equal a plain computation on fixed weights', async () => {
  await useBackend('cpu');
  const dir = tmp();
  const { m, k1, b1, k2 } = convNet();
  const session = attachProbes(m, { out: dir, name: 'conv' });
  const x = inputs();
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5], 'int32'), 10).toFloat();
  const xt = tf.tensor4d(x, [B, H, W, 1]);
  await m.fit(xt, y, { batchSize: B, epochs: 1, shuffle: false, verbose: 0, callbacks: [session.callback] });
  session.close();
  const t = readTrace(session.path);

  // reference: relu layer, channel = unit, (channel, sample) inactive iff z ≤ 0 at every position
  const c1 = conv(x, H, W, 1, k1, b1, C1);
  const P1 = c1.h * c1.w;
  const active = Array.from({ length: C1 }, (_, c) => Array.from({ length: B }, (_, s) => {
    for (let p = 0; p < P1; p++) if (c1.z[(s * P1 + p) * C1 + c] > 0) return true;
    return false;
  }));
  let inactive = 0;
  active.forEach((row) => row.forEach((a) => { if (!a) inactive++; }));
  const deadUnits = active.filter((row) => row.every((a) => !a)).length / C1;
  const deadRows = Array.from({ length: B }, (_, s) => active.every((row) => !row[s])).filter(Boolean).length / B;
  assert.ok(deadUnits > 0 && deadRows > 0, 'the fixture has a dead channel and a dead sample');
  const eq = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-6, `${what}: probe ${a} vs reference ${b}`);
  eq(at(t, 1, 'dead-relu', 'inactive_frac'), inactive / (C1 * B), 'inactive_frac');
  eq(at(t, 1, 'dead-relu', 'dead_units'), deadUnits, 'dead_units');
  eq(at(t, 1, 'dead-relu', 'dead_rows'), deadRows, 'dead_rows');
  for (let c = 0; c < C1; c++) eq(at(t, 1, 'dead-relu', `active_u${c}`), active[c].filter(Boolean).length / B, `active_u${c}`);

  // reference: sigmoid layer, saturation per entry (channel, sample, position)
  const a1 = Float64Array.from(c1.z, (v) => Math.max(0, v));
  const c2 = conv(a1, c1.h, c1.w, C1, k2, null, C2);
  let low = 0, high = 0, deriv = 0;
  for (const z of c2.z) {
    const a = 1 / (1 + Math.exp(-z));
    if (a < 0.01) low++; else if (a > 0.99) high++;
    deriv += a * (1 - a);
  }
  const n = c2.z.length;
  assert.ok(low + high > 0 && low + high < n, 'the fixture saturates some entries, not all');
  const near = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-5, `${what}: probe ${a} vs reference ${b}`);
  near(at(t, 2, 'saturation', 'sat_frac'), (low + high) / n, 'sat_frac');
  near(at(t, 2, 'saturation', 'sat_low'), low / n, 'sat_low');
  near(at(t, 2, 'saturation', 'sat_high'), high / n, 'sat_high');
  near(at(t, 2, 'saturation', 'mean_deriv'), deriv / n, 'mean_deriv');

  // a convolution without bias records no bias gradient; an Activation layer no weight figures
  const metricsOf = (layer: number, probe: string) => [...new Set(metricRows(t, probe, 'z_grad_norm', layer).value.length ? t.columns.metrics.filter((mm) => metricRows(t, probe, mm, layer).value.length > 0) : [])].sort();
  assert.deepEqual(metricsOf(2, 'gradients'), ['update_ratio', 'w_grad_max', 'w_grad_norm', 'z_grad_max', 'z_grad_norm']);
  assert.deepEqual(metricsOf(4, 'gradients'), ['z_grad_max', 'z_grad_norm']);

  // layers and unprobed layers in the metadata, with names and classes
  assert.deepEqual(t.facts.layers.map((l) => [l.layer, l.name, l.className, l.activation, l.fanOut, l.unitKind]), [
    [1, 'conv_relu', 'Conv2D', 'relu', C1, 'channel'],
    [2, 'conv_sig', 'Conv2D', 'sigmoid', C2, 'channel'],
    [3, 'fc', 'Dense', 'linear', 6, 'unit'],
    [4, 'act_tanh', 'Activation', 'tanh', 6, 'unit'],
    [5, 'out', 'Dense', 'softmax', 10, 'unit'],
  ]);
  assert.deepEqual(t.facts.unprobed?.map((u) => u.name), ['pool', 'flat', 'drop']);
  tf.dispose([xt, y]);
  m.dispose();
  await useBackend('wasm');
});

test('attaching changes no value: predictions equal, and close() restores layers, activations and optimizer', async () => {
  const { m } = convNet();
  const xt = tf.tensor4d(inputs(), [B, H, W, 1]);
  const p0 = m.predict(xt) as tf.Tensor;
  const calls = m.layers.map((l) => l.call);
  const opt = m.optimizer;
  const apply = opt.applyGradients;
  const config = JSON.stringify(m.getConfig());
  const session = attachProbes(m, { out: tmp(), name: 'restore' });
  const p1 = m.predict(xt) as tf.Tensor;
  assert.deepEqual(await p1.data(), await p0.data());
  assert.equal(JSON.stringify(m.getConfig()), config, 'the saved topology keeps the real activations');
  session.close();
  m.layers.forEach((l, i) => assert.equal(l.call, calls[i], `${l.name}.call restored`));
  assert.equal(opt.applyGradients, apply);
  tf.dispose([xt, p0, p1]);
  m.dispose();
});

test('a hand-written loop: optimizer.minimize is probed; a wrapped loss adds batch accuracy, without it only the loss is recorded', async () => {
  for (const wrap of [true, false]) {
    const model = tf.sequential({ name: wrap ? 'loop_wrapped' : 'loop_plain' });
    model.add(tf.layers.dense({ inputShape: [5], units: 4, activation: 'relu', kernelInitializer: 'glorotUniform' }));
    model.add(tf.layers.dense({ units: 3 }));
    const optimizer = tf.train.adam(0.01);
    const lossFn = (yt: tf.Tensor, yp: tf.Tensor) => tf.losses.softmaxCrossEntropy(yt, yp);
    const session = attachProbes(model, { out: tmp(), optimizer, ...(wrap ? { loss: lossFn } : {}) });
    const loss = session.loss ?? lossFn;
    const x = tf.tensor2d(seeded(8 * 5, 4, 1), [8, 5]);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32'), 3).toFloat();
    const returned: number[] = [];
    for (let s = 0; s < 3; s++) {
      const v = optimizer.minimize(() => loss(y, model.apply(x) as tf.Tensor) as tf.Scalar, true)!;
      returned.push(v.dataSync()[0]);
      v.dispose();
    }
    session.endEpoch({ trainLoss: returned.reduce((a, b) => a + b) / 3 });
    session.close();
    const t = readTrace(session.path);
    assert.deepEqual(metricRows(t, 'loss', 'loss', 0).value.map((v) => Math.fround(v)), returned.map((v) => Math.fround(v)));
    assert.equal(metricRows(t, 'loss', 'accuracy', 0).value.length, wrap ? 3 : 0);
    assert.equal(metricRows(t, 'dead-relu', 'dead_units', 1).value.length, 3);
    // Adam: the update ratio is measured from the weights, not assumed from SGD
    assert.ok(metricRows(t, 'gradients', 'update_ratio', 1).value.every((v) => v > 0 && Number.isFinite(v)));
    tf.dispose([x, y]);
    model.dispose();
  }
});

test('an attached output layer\'s wrong-side saturation reads the gradient of the caller\'s loss at its output: pinned at 1, every unit but the label\'s is on the wrong side; pinned at 0, the label\'s only', async () => {
  for (const [bias, wrong] of [[50, 2 / 3], [-50, 1 / 3]]) {
    const model = tf.sequential({ name: `pinned_${bias > 0 ? 'high' : 'low'}` });
    model.add(tf.layers.dense({ inputShape: [5], units: 4, activation: 'tanh' }));
    model.add(tf.layers.dense({ units: 3, activation: 'sigmoid', biasInitializer: tf.initializers.constant({ value: bias }) }));
    // the study's loss: cross-entropy of log-softmax over the activated outputs
    model.compile({ optimizer: tf.train.sgd(0), loss: (yt: tf.Tensor, yp: tf.Tensor) => tf.losses.softmaxCrossEntropy(yt, yp) });
    const session = attachProbes(model, { out: tmp() });
    const x = tf.tensor2d(seeded(8 * 5, 6, 1), [8, 5]);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32'), 3).toFloat();
    await model.fit(x, y, { batchSize: 8, epochs: 1, verbose: 0, callbacks: [session.callback] });
    session.close();
    const t = readTrace(session.path);
    assert.deepEqual(metricRows(t, 'saturation', 'sat_frac', 2).value, [1]);
    assert.deepEqual(metricRows(t, 'saturation', 'sat_wrong_frac', 2).value, [Math.fround(wrong)]);
    // a hidden layer keeps its plain share alone
    assert.equal(metricRows(t, 'saturation', 'sat_frac', 1).value.length, 1);
    assert.equal(metricRows(t, 'saturation', 'sat_wrong_frac', 1).value.length, 0);
    tf.dispose([x, y]);
    model.dispose();
  }
});

test('--every 2 probes steps 0, 2, 4 (loss every step) and leaves no tensor behind', async () => {
  const before = tf.memory().numTensors;
  const model = tf.sequential({ name: 'every' });
  model.add(tf.layers.dense({ inputShape: [5], units: 4, activation: 'sigmoid' }));
  model.add(tf.layers.dense({ units: 3, activation: 'softmax' }));
  model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
  const session = attachProbes(model, { out: tmp(), every: 2 });
  const x = tf.tensor2d(seeded(20 * 5, 5, 1), [20, 5]);
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: 20 }, (_, i) => i % 3), 'int32'), 3).toFloat();
  await model.fit(x, y, { batchSize: 4, epochs: 1, verbose: 0, callbacks: [session.callback] });
  session.close();
  const t = readTrace(session.path);
  assert.deepEqual(metricRows(t, 'gradients', 'w_grad_norm', 1).step, [0, 2, 4]);
  assert.deepEqual(metricRows(t, 'saturation', 'sat_frac', 1).step, [0, 2, 4]);
  // the loss has a schedule of its own: every step, whatever --every says
  assert.deepEqual(metricRows(t, 'loss', 'loss', 0).step, [0, 1, 2, 3, 4]);
  assert.equal(t.facts.stepsPerEpoch, 5);
  tf.dispose([x, y]);
  model.optimizer.dispose();
  model.dispose();
  // tfjs-layers itself keeps a few tensors per compiled model; attaching must add none
  const leftAttached = tf.memory().numTensors - before;
  const b2 = tf.memory().numTensors;
  const m2 = tf.sequential({ name: 'every2' });
  m2.add(tf.layers.dense({ inputShape: [5], units: 4, activation: 'sigmoid' }));
  m2.add(tf.layers.dense({ units: 3, activation: 'softmax' }));
  m2.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
  const x2 = tf.tensor2d(seeded(20 * 5, 5, 1), [20, 5]);
  const y2 = tf.oneHot(tf.tensor1d(Array.from({ length: 20 }, (_, i) => i % 3), 'int32'), 3).toFloat();
  await m2.fit(x2, y2, { batchSize: 4, epochs: 1, verbose: 0 });
  tf.dispose([x2, y2]);
  m2.optimizer.dispose();
  m2.dispose();
  assert.equal(leftAttached, tf.memory().numTensors - b2);
});

test('attaching with a name refuses to replace an existing trace unless forced; without one it takes the next free name', () => {
  const dir = tmp();
  const model = tf.sequential({ name: 'twice' });
  model.add(tf.layers.dense({ inputShape: [2], units: 2 }));
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  attachProbes(model, { out: dir }).close();
  assert.ok(existsSync(join(dir, 'twice.arrow')));
  assert.throws(() => attachProbes(model, { out: dir, name: 'twice' }), (e: unknown) => e instanceof ProbeError && /already exists/.test(e.message));
  const next = attachProbes(model, { out: dir });
  next.close();
  assert.equal(next.run, 'twice-2');
  const forced = attachProbes(model, { out: dir, force: true });
  forced.close();
  assert.equal(forced.run, 'twice', 'force replaces the model\'s own name');
  model.dispose();
});

test('a layer probe that cannot describe an attached layer (its metrics throw) records nothing for it, and training goes on', () => {
  const picky = tolerant({
    id: 'picky', scope: 'layer', description: 'knows only relu',
    metrics: (layer) => { if (layer.activation !== 'relu') throw new Error(`no spec for ${layer.activation}`); return ['x']; },
    compute: () => tf.zeros([1]) as tf.Tensor1D,
  });
  const info = (activation: string) => ({ layer: 1, activation: activation as 'relu', fanIn: 2, fanOut: 2, isOutput: false });
  assert.deepEqual(picky.metrics(info('relu'), DEFAULT_PROBE_SETTINGS), ['x']);
  assert.deepEqual(picky.metrics(info('softmax'), DEFAULT_PROBE_SETTINGS), []);
});


test('a probed step computes no gradient for the model input (the fused linear matMul did: a 32×784 product per step)', async () => {
  await useBackend('wasm');
  const m = tf.sequential();
  m.add(tf.layers.dense({ inputShape: [784], units: 16, activation: 'relu' }));
  m.add(tf.layers.dense({ units: 10, activation: 'sigmoid' }));
  m.compile({ optimizer: tf.train.momentum(0.01, 0.5), loss: 'meanSquaredError' });
  const session = attachProbes(m, { out: tmp(), name: 'no-input-grad' });
  const x = tf.randomUniform([8, 784]), y = tf.randomUniform([8, 10]);
  const p = await tf.profile(async () => { await m.fit(x, y, { batchSize: 8, epochs: 1, verbose: 0, callbacks: [session.callback] }); });
  session.close();
  const inputGrads = p.kernels.filter((k) => /MatMul/.test(k.name) && k.outputShapes.some((s) => s.length >= 2 && s.at(-1) === 784 && s.at(-2) === 8));
  assert.deepEqual(inputGrads.map((k) => `${k.name} → [${k.outputShapes}]`), []);
  const probed = metricRows(readTrace(session.path), 'loss', 'loss', 0).value.length;
  assert.equal(probed, 1, 'the step was probed');
  tf.dispose([x, y]);
  m.dispose();
});

test('attaching to a model that is not compiled, without an optimizer, is a ProbeError that says what to pass', () => {
  const m = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3], activation: 'relu' })] });
  assert.throws(() => attachProbes(m, { out: tmp() }), (e: unknown) => e instanceof ProbeError && e.code === 'E_CONFIG' && /pass \{ optimizer \}/.test(e.message));
  m.dispose();
});

test('attached hard-sigmoid and leaky ReLU layers: figures where their specs say they die or saturate, equal to a plain computation, and none where they cannot', async () => {
  await useBackend('cpu');
  const S = 4, F = 3, U = 5;
  const x = Float32Array.from({ length: S * F }, (_, i) => ((i * 37) % 11) - 5); // −5..5: many z beyond ±2.5
  const k = Float32Array.from({ length: F * U }, (_, i) => ((i * 7) % 5) / 2 - 1);
  const b = Float32Array.from({ length: U }, (_, i) => (i % 2) - 0.5);
  const { t, z: zOf } = await frozenStep({ name: 'hard', x, k, b, S, F, U, activation: 'hardSigmoid', labels: [0, 1, 0, 1], rest: [
    tf.layers.leakyReLU({ alpha: 0.1 }),
    tf.layers.dense({ units: 2, activation: 'softmax' }),
  ] });
  // reference: z = xK + b; dead where z ≤ −2.5 (a = 0, no gradient), saturated where a is exactly 0 or 1
  let dead = 0, low = 0, high = 0;
  for (let s = 0; s < S; s++) for (let u = 0; u < U; u++) {
    const z = zOf(s, u);
    if (z <= -2.5) dead++;
    const a = Math.min(1, Math.max(0, 0.2 * z + 0.5));
    if (a === 0) low++; else if (a === 1) high++;
  }
  assert.ok(dead > 0 && high > 0, 'the fixture has dead and high-saturated entries');
  const eq = (a: number, ref: number, what: string) => assert.ok(Math.abs(a - ref) < 1e-6, `${what}: probe ${a} vs reference ${ref}`);
  eq(at(t, 1, 'dead-relu', 'inactive_frac'), dead / (S * U), 'hard sigmoid inactive_frac (z ≤ −2.5)');
  eq(at(t, 1, 'saturation', 'sat_low'), low / (S * U), 'hard sigmoid sat_low (a = 0)');
  eq(at(t, 1, 'saturation', 'sat_high'), high / (S * U), 'hard sigmoid sat_high (a = 1)');
  // the leaky ReLU layer (layer 2) cannot die or saturate: no such rows, rather than zeros
  for (const [probe, metric] of [['dead-relu', 'inactive_frac'], ['saturation', 'sat_frac']]) assert.equal(metricRows(t, probe, metric, 2).value.length, 0, `${probe}/${metric} on the leaky layer`);
});

test('an attached ReLU(maxValue) layer: saturated where capped, with the mean derivative and dead share of a plain computation', async () => {
  await useBackend('cpu');
  const S = 8, F = 3, U = 6, CAP = 2;
  const x = Float32Array.from({ length: S * F }, (_, i) => ((i * 37) % 11) - 5);
  const k = Float32Array.from({ length: F * U }, (_, i) => ((i * 7) % 5) / 4 - 0.5);
  const b = Float32Array.from({ length: U }, (_, i) => (i % 3) - 1);
  const { t, path, z: zOf } = await frozenStep({ name: 'capped', x, k, b, S, F, U, labels: [0, 1, 0, 1, 1, 0, 1, 0], rest: [
    tf.layers.reLU({ maxValue: CAP }),
    tf.layers.dense({ units: 2, activation: 'softmax' }),
  ] });
  // reference, in float64 from the same weights: flat (derivative 0) at z ≥ 2, dead at z ≤ 0
  let high = 0, deriv = 0, dead = 0;
  for (let s = 0; s < S; s++) for (let u = 0; u < U; u++) {
    const z = zOf(s, u);
    if (z >= CAP) high++;
    if (z > 0 && z < CAP) deriv++;
    if (z <= 0) dead++;
  }
  const n = S * U;
  assert.ok(high > 0 && dead > 0 && high + dead < n, `the fixture has capped, dead and linear entries: ${[high, dead]}`);
  const eq = (a: number, ref: number, what: string) => assert.ok(Math.abs(a - ref) < 1e-6, `${what}: probe ${a} vs reference ${ref}`);
  eq(at(t, 2, 'saturation', 'sat_high'), high / n, 'sat_high (a = 2)');
  eq(at(t, 2, 'saturation', 'sat_low'), 0, 'sat_low');
  eq(at(t, 2, 'saturation', 'mean_deriv'), deriv / n, 'mean_deriv');
  eq(at(t, 2, 'dead-relu', 'inactive_frac'), dead / n, 'inactive_frac');
  // the trace names the layer as tfjs does, its cap beside
  const l2 = t.facts.layers.find((l) => l.layer === 2)!;
  assert.deepEqual([l2.activation, l2.activationParam], ['relu', CAP]);
  // what a reader sees names the cap, so a relu layer's saturation figures make sense
  assert.equal(digestTrace(t, NO_CHARTS).acts[1], 'relu(maxValue=2)');
  const inspect = await runCli(['inspect', path]);
  assert.match(inspect.stdout, /layer 2 relu\(maxValue=2\) saturation/);
});

test('an attached run writes unit activity once per window of steps (the mean of its steps), as the engine does', async () => {
  const model = tf.sequential({ name: 'windows' });
  model.add(tf.layers.dense({ inputShape: [5], units: 4, activation: 'relu', name: 'hidden' }));
  model.add(tf.layers.dense({ units: 3, activation: 'softmax' }));
  model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
  const session = attachProbes(model, { out: tmp() });
  const x = tf.tensor2d(seeded(40 * 5, 6, 1), [40, 5]);
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: 40 }, (_, i) => i % 3), 'int32'), 3).toFloat();
  // 40 steps an epoch: windows of ceil(40 / UNIT_WINDOWS_PER_EPOCH) steps
  const size = Math.ceil(40 / UNIT_WINDOWS_PER_EPOCH);
  await model.fit(x, y, { batchSize: 1, epochs: 1, verbose: 0, callbacks: [session.callback] });
  session.close();
  const t = readTrace(session.path);
  for (let k = 0; k < 4; k++) {
    const perStep = metricRows(t, 'dead-relu', `active_u${k}`, 1);
    assert.equal(perStep.value.length, 40);
    const windows = metricRows(t, 'unit-activity', `u${k}`, 1);
    assert.deepEqual(windows.step, Array.from({ length: 40 / size }, (_, w) => size * w));
    windows.value.forEach((v, w) => {
      const steps = perStep.value.slice(size * w, size * (w + 1));
      assert.ok(Math.abs(v - steps.reduce((a, b) => a + b, 0) / size) < 1e-6, `unit ${k} window ${w}`);
    });
  }
  tf.dispose([x, y]);
  model.dispose();
});

test('an attached run holds its lock while open: a second session on the same trace is refused, then may go once the first closed', () => {
  const dir = tmp();
  const model = tf.sequential({ name: 'locked' });
  model.add(tf.layers.dense({ inputShape: [2], units: 2 }));
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  const first = attachProbes(model, { out: dir });
  assert.ok(existsSync(join(dir, 'locked.arrow.lock')));
  assert.throws(() => attachProbes(model, { out: dir, force: true }), (e: unknown) => e instanceof ProbeError && /is being computed by pid/.test(e.message));
  first.close();
  assert.ok(!existsSync(join(dir, 'locked.arrow.lock')));
  attachProbes(model, { out: dir, force: true }).close();
  model.dispose();
});

test('an attached run whose loss or weights stop being finite ends diverged, and model.fit stops', async () => {
  for (const broken of ['weights', 'lr'] as const) {
    const model = tf.sequential({ name: `broken_${broken}` });
    model.add(tf.layers.dense({ inputShape: [5], units: 4, activation: 'relu' }));
    model.add(tf.layers.dense({ units: 3 }));
    // mean squared error has no clipping: an infinite step shows in the loss
    model.compile({ optimizer: tf.train.sgd(broken === 'lr' ? 1e38 : 0.01), loss: 'meanSquaredError' });
    if (broken === 'weights') model.layers[0].setWeights([tf.fill([5, 4], NaN), tf.zeros([4])]);
    const session = attachProbes(model, { out: tmp(), every: 3 });
    const x = tf.tensor2d(seeded(40 * 5, 7, 10), [40, 5]);
    const y = tf.oneHot(tf.tensor1d(Array.from({ length: 40 }, (_, i) => i % 3), 'int32'), 3).toFloat();
    await model.fit(x, y, { batchSize: 4, epochs: 3, verbose: 0, callbacks: [session.callback] });
    assert.ok(session.halted, `${broken}: not halted`);
    const stoppedAt = session.step;
    assert.ok(stoppedAt < 30, `${broken}: fit went on to step ${stoppedAt}`);
    assert.equal(session.close(), 'diverged');
    const t = readTrace(session.path);
    assert.equal(t.status, 'diverged');
    assert.equal(t.progress?.diverged?.step, session.halted!.step);
    if (broken === 'weights') assert.equal(session.halted!.step, 0);
    tf.dispose([x, y]);
    model.dispose();
  }
});

test("attaching with a probe named twice records it once (probes: ['gradients', 'loss', 'gradients'])", async () => {
  const model = tf.sequential({ name: 'twice_named' });
  model.add(tf.layers.dense({ inputShape: [5], units: 4, activation: 'relu' }));
  model.add(tf.layers.dense({ units: 3, activation: 'softmax' }));
  model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
  const session = attachProbes(model, { out: tmp(), probes: ['gradients', 'loss', 'gradients'] });
  const x = tf.tensor2d(seeded(8 * 5, 8, 1), [8, 5]);
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: 8 }, (_, i) => i % 3), 'int32'), 3).toFloat();
  await model.fit(x, y, { batchSize: 4, epochs: 1, verbose: 0, callbacks: [session.callback] });
  session.close();
  const t = readTrace(session.path);
  assert.deepEqual(metricRows(t, 'loss', 'loss', 0).step, [0, 1]);
  assert.deepEqual(metricRows(t, 'gradients', 'w_grad_norm', 1).step, [0, 1]);
  tf.dispose([x, y]);
  model.dispose();
});
