/**
 * The sparse input layer (train/kernels/sparse.ts, wat/sparse.js): batches of a mostly-background
 * input listed by their nonzeros, the input layer's forward and update over them.
 *
 * The stated tolerance, the dense kernels' own: each product within 1e-5 of the sum of the
 * magnitudes of its float64 terms — here x = bg + d, so the terms are w·d and w·bg: z within
 * 1e-5·(|b| + Σ_f |w_f|·(|x_f| + |bg_f|)), dW within 1e-5·Σ_n |dz_n|·(|x_n| + |bg|) — and the
 * engine's weights within 1e-4 relative (1e-6 absolute) of the float64 reference over several
 * steps, sparse and dense batches alike.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import type { Activation } from '../src/activations/index.js';
import { BatchBuilder, disposeBatch } from '../src/train/batch.js';
import { loadMnist, normalizationTable, type Split } from '../src/train/data.js';
import { Mlp, type Batch } from '../src/train/engine.js';
import { ProbeHost } from '../src/probes/host.js';
import { DEFAULT_PROBE_SETTINGS } from '../src/probes/probe.js';
import { PROBES } from '../src/probes/registry.js';
import type { BackwardTensors, ForwardTensors, TensorHooks, UpdateTensors } from '../src/train/hooks.js';
import { fromInputLayout, inputOffset, inputWeightUpdate, sparseDenseActivate, toInputLayout } from '../src/train/kernels/sparse.js';
import { initParams, type LayerParams } from '../src/train/model.js';
import { permutation, rng } from '../src/train/rng.js';
import { SPARSE_BELOW, type InputProfile } from '../src/train/sparse-input.js';
import { closeness, useBackend } from './helpers.js';
import { refSgd, refStep } from './reference.js';

before(() => useBackend('wasm'));

const mnist = loadMnist();

/** A split whose samples have `share(i)` of their pixels nonzero (random bytes), `channels` planes. */
function synthetic(n: number, dim: number, share: (i: number) => number, seed: number): Split {
  const r = rng(seed, 'sparse-test');
  const pixels = new Uint8Array(n * dim);
  for (let i = 0; i < n; i++) for (let f = 0; f < dim; f++) if (r.float() < share(i)) pixels[i * dim + f] = 1 + r.int(255);
  return { n, dim, pixels, labels: Uint8Array.from({ length: n }, () => r.int(10)) };
}

/** The stored form (column blocks: kernels/sparse.ts) of input-major weights `wT` `[K, M]`, and back. */
function toStored(wT: ArrayLike<number>, K: number, M: number): Float32Array {
  const w = new Float32Array(M * K);
  for (let f = 0; f < K; f++) for (let j = 0; j < M; j++) w[j * K + f] = wT[f * M + j];
  return toInputLayout(w, M, K);
}
function fromStored(s: ArrayLike<number>, K: number, M: number): Float32Array {
  const w = fromInputLayout(s, M, K), wT = new Float32Array(K * M);
  for (let f = 0; f < K; f++) for (let j = 0; j < M; j++) wT[f * M + j] = w[j * K + f];
  return wT;
}

/** x batch-major, as the definition gives it: the lookup table at each pixel. */
function inputsOf(split: Split, lut: Float32Array, offsets: Int32Array, order: ArrayLike<number>, start: number, size: number): Float32Array {
  const { dim } = split, x = new Float32Array(size * dim);
  for (let s = 0; s < size; s++) for (let f = 0; f < dim; f++) x[s * dim + f] = lut[offsets[f] + split.pixels[order[start + s] * dim + f]];
  return x;
}

test('a sparse batch: xf bit for bit, and its nonzeros by sample and by feature as the definition lists them, samples listed as batches first take them', () => {
  const means = [0.4914, 0.4822, 0.4465], stds = [0.247, 0.2435, 0.2616];
  const cases = [
    { split: mnist.train, lut: mnist.lut, offsets: mnist.lutOffset },
    // three channels, each with its own background (a zero byte is −mean/std of its channel)
    { split: synthetic(40, 21, () => 0.2, 1), lut: normalizationTable(means, stds), offsets: Int32Array.from({ length: 21 }, (_, f) => Math.floor(f / 7) * 256) },
    // every 16th sample (those inputProfile reads) blank, the others not: the lists' room, sized
    // from that share, must grow as samples are listed
    { split: synthetic(40, 21, (i) => (i % 16 === 0 ? 0 : 0.3), 4), lut: mnist.lut, offsets: new Int32Array(21) },
  ];
  for (const { split, lut, offsets } of cases) {
    const builder = new BatchBuilder(split, lut, offsets, 10);
    const order = permutation(split.n, rng(3, 'shuffle', 1));
    const { background } = builder.inputProfile();
    for (const [start, size] of [[0, 1], [5, 31], [0, 32], [7, 33]]) {
      const b = builder.build(order, start, size, 'sparse');
      const x = inputsOf(split, lut, offsets, order, start, size), dim = split.dim;
      assert.equal(b.xb, undefined);
      const xf = b.xf.dataSync();
      for (let s = 0; s < size; s++) for (let f = 0; f < dim; f++) assert.ok(Object.is(xf[f * size + s], x[s * dim + f]), `xf[${f}, ${s}]`);
      assert.ok(b.sparse, `start ${start} size ${size}: sparse`);
      const { nnz, index, value } = b.sparse;
      const idx = index.dataSync(), val = value.dataSync();
      // by sample: features ascending; by feature: samples ascending; d = float32(x − bg)
      const bySample: [number, number, number][] = [], byFeature: [number, number, number][] = [];
      for (let s = 0; s < size; s++) for (let f = 0; f < dim; f++) if (split.pixels[order[start + s] * dim + f] !== 0) bySample.push([s, f, Math.fround(x[s * dim + f] - background[f])]);
      for (let f = 0; f < dim; f++) for (let s = 0; s < size; s++) if (split.pixels[order[start + s] * dim + f] !== 0) byFeature.push([s, f, Math.fround(x[s * dim + f] - background[f])]);
      assert.equal(nnz, bySample.length);
      const got1 = Array.from({ length: nnz }, (_, q) => [0, idx[size + 1 + q], val[q]]);
      for (let s = 0; s < size; s++) for (let q = idx[s]; q < idx[s + 1]; q++) got1[q][0] = s;
      assert.deepEqual(got1, bySample.map(([s, f, d]) => [s, f, d]));
      const cp = size + 1 + nnz, ci = cp + dim + 1;
      const got2 = Array.from({ length: nnz }, (_, q) => [idx[ci + q], 0, val[nnz + q]]);
      for (let f = 0; f < dim; f++) for (let q = idx[cp + f]; q < idx[cp + f + 1]; q++) got2[q][1] = f;
      assert.deepEqual(got2, byFeature);
      disposeBatch(b);
    }
  }
});

test('a batch with more than SPARSE_BELOW of its pixels nonzero is dense; an evaluation batch lists its nonzeros by sample only; disposing frees all', () => {
  const split = synthetic(64, 50, (i) => (i < 32 ? 0.1 : 0.9), 2);
  const builder = new BatchBuilder(split, mnist.lut, new Int32Array(50), 10);
  const order = Uint32Array.from({ length: 64 }, (_, i) => i);
  const before = tf.memory().numTensors;
  const sparse = builder.build(order, 0, 32, 'sparse'), dense = builder.build(order, 32, 32, 'sparse'), rows = builder.build(order, 0, 32, 'sparse', false);
  assert.ok(sparse.sparse && sparse.sparse.nnz <= SPARSE_BELOW * 32 * 50 && sparse.sparse.byFeature);
  assert.equal(dense.sparse, undefined);
  assert.ok(rows.sparse && !rows.sparse.byFeature && rows.sparse.index.size === 33 + rows.sparse.nnz);
  for (const b of [sparse, dense, rows]) disposeBatch(b);
  assert.equal(tf.memory().numTensors, before);
});

/** W input-major `[K, M]`, its product with the background, a bias, and a batch of MNIST (sparse). */
function layerCase(M: number, size: number, seed: number) {
  const r = rng(seed, 'sparse-layer');
  const K = 784, builder = new BatchBuilder(mnist.train, mnist.lut, mnist.lutOffset, 10);
  const bg = builder.inputProfile().background;
  const w = Float32Array.from({ length: K * M }, () => (r.float() * 2 - 1) / 28);
  const wbg = new Float32Array(M);
  for (let j = 0; j < M; j++) { let s = 0; for (let f = 0; f < K; f++) s += w[f * M + j] * bg[f]; wbg[j] = s; }
  const b = Float32Array.from({ length: M }, () => (r.float() * 2 - 1) / 28);
  const order = permutation(mnist.train.n, rng(seed, 'shuffle', 1));
  const batch = builder.build(order, 0, size, 'sparse');
  const x = inputsOf(mnist.train, mnist.lut, mnist.lutOffset, order, 0, size);
  return { K, M, bg, w, wbg, b, batch, x };
}

const ACTS: Activation[] = ['relu', 'sigmoid', 'tanh', 'selu'];
const f64Act: Record<string, (z: number) => number> = {
  relu: (z) => Math.max(0, z), sigmoid: (z) => 1 / (1 + Math.exp(-z)), tanh: Math.tanh,
  selu: (z) => (z > 0 ? 1.0507009873554805 * z : 1.0507009873554805 * 1.6732632423543772 * (Math.exp(z) - 1)),
};

test('the sparse forward: z within 1e-5·Σ|terms| of float64, a = f(z) as the fused activations compute it, aT its transpose (widths 37 and 500, batches 1, 31, 33)', () => {
  for (const [M, size] of [[37, 33], [500, 31], [37, 1]]) {
    const c = layerCase(M, size, M + size);
    for (const act of ACTS) {
      const out = tf.tidy(() => {
        const { z, a, aT } = sparseDenseActivate(tf.tensor2d(toStored(c.w, c.K, M), [c.K, M]), c.batch.sparse!, size, tf.tensor1d(c.wbg), tf.tensor2d(c.b, [M, 1]), act);
        return [z.dataSync(), a.dataSync(), aT.dataSync()];
      });
      const [z, a, aT] = out;
      for (let j = 0; j < M; j++) for (let n = 0; n < size; n++) {
        let want = c.b[j], scale = Math.abs(c.b[j]);
        for (let f = 0; f < c.K; f++) { const w = c.w[f * M + j], x = c.x[n * c.K + f]; want += w * x; scale += Math.abs(w) * (Math.abs(x) + Math.abs(c.bg[f])); }
        const got = z[j * size + n];
        assert.ok(Math.abs(got - want) <= 1e-5 * scale, `${act} M=${M} z[${j}, ${n}] = ${got}, float64 ${want}, scale ${scale}`);
        // the activation of the float32 z, within the fused kernels' ~2 ulp
        assert.ok(Math.abs(a[j * size + n] - f64Act[act](got)) <= 1e-6 * (1 + Math.abs(f64Act[act](got))), `${act} a[${j}, ${n}]`);
        assert.ok(Object.is(aT[n * M + j], a[j * size + n]), `${act} aT[${n}, ${j}]`);
      }
    }
    disposeBatch(c.batch);
  }
});

test('the input layer\'s update, over the nonzeros and dense: v\', w\' within the tolerance of float64, the moments, and W\'·bg', () => {
  const lr = 0.01, mu = 0.5;
  for (const [M, size] of [[37, 33], [500, 32]]) {
    const c = layerCase(M, size, 7 * M + size);
    const r = rng(M, 'sparse-dz');
    const dz = Float32Array.from({ length: M * size }, () => (r.float() * 2 - 1) * 1e-2); // [M, N]
    const dzT = new Float32Array(size * M);
    for (let j = 0; j < M; j++) for (let n = 0; n < size; n++) dzT[n * M + j] = dz[j * size + n];
    const db = Float32Array.from({ length: M }, (_, j) => { let s = 0; for (let n = 0; n < size; n++) s += dz[j * size + n]; return s; });
    const v = Float32Array.from({ length: c.K * M }, () => (r.float() * 2 - 1) * 1e-3);
    for (const sparse of [true, false]) {
      const [vo, wo, moments, wbg] = tf.tidy(() => {
        const [wt, vt] = [tf.tensor2d(toStored(c.w, c.K, M), [c.K, M]), tf.tensor2d(toStored(v, c.K, M), [c.K, M])];
        // in place
        const u = inputWeightUpdate(tf.tensor2d(dzT, [size, M]), c.batch.xf, sparse ? c.batch.sparse : undefined, tf.tensor2d(db, [M, 1]), tf.tensor1d(c.bg), wt, vt, lr, mu);
        return [fromStored(vt.dataSync(), c.K, M), fromStored(wt.dataSync(), c.K, M), u.moments.dataSync(), u.wbg.dataSync()];
      });
      let sg = 0, mx = 0, sv = 0, sw = 0;
      for (let f = 0; f < c.K; f++) for (let j = 0; j < M; j++) {
        let g = 0, scale = 0;
        for (let n = 0; n < size; n++) { const x = c.x[n * c.K + f]; g += dz[j * size + n] * x; scale += Math.abs(dz[j * size + n]) * (Math.abs(x) + Math.abs(c.bg[f])); }
        const k = f * M + j, v1 = mu * v[k] + g, w1 = c.w[k] - lr * v1;
        assert.ok(Math.abs(vo[k] - v1) <= 1e-5 * scale + 1e-7 * Math.abs(v1), `${sparse ? 'sparse' : 'dense'} M=${M} v'[${f}, ${j}] ${vo[k]} vs ${v1}`);
        assert.ok(Math.abs(wo[k] - w1) <= lr * 1e-5 * scale + 1.2e-7 * Math.abs(w1), `${sparse ? 'sparse' : 'dense'} M=${M} w'[${f}, ${j}] ${wo[k]} vs ${w1}`);
        sg += g * g; mx = Math.max(mx, Math.abs(g)); sv += v1 * v1; sw += w1 * w1;
      }
      [sg, mx, sv, sw].forEach((want, i) => assert.ok(Math.abs(moments[i] - want) <= 1e-5 * want, `${sparse ? 'sparse' : 'dense'} moment ${i}: ${moments[i]} vs ${want}`));
      for (let j = 0; j < M; j++) {
        let want = 0, scale = 0;
        for (let f = 0; f < c.K; f++) { want += wo[f * M + j] * c.bg[f]; scale += Math.abs(wo[f * M + j] * c.bg[f]); }
        assert.ok(Math.abs(wbg[j] - want) <= 1e-6 * scale, `${sparse ? 'sparse' : 'dense'} W'·bg[${j}]`);
      }
      // without the moments (the steps no probe reads them on): the same v', w', W'·bg bit for bit, NaN moments
      const [vn, wn, mn, wbgn] = tf.tidy(() => {
        const [wt, vt] = [tf.tensor2d(toStored(c.w, c.K, M), [c.K, M]), tf.tensor2d(toStored(v, c.K, M), [c.K, M])];
        const u = inputWeightUpdate(tf.tensor2d(dzT, [size, M]), c.batch.xf, sparse ? c.batch.sparse : undefined, tf.tensor2d(db, [M, 1]), tf.tensor1d(c.bg), wt, vt, lr, mu, false);
        return [fromStored(vt.dataSync(), c.K, M), fromStored(wt.dataSync(), c.K, M), u.moments.dataSync(), u.wbg.dataSync()];
      });
      for (let k = 0; k < c.K * M; k++) if (!Object.is(vn[k], vo[k]) || !Object.is(wn[k], wo[k])) assert.fail(`${sparse ? 'sparse' : 'dense'} M=${M} without moments [${k}]: v ${vn[k]} vs ${vo[k]}, w ${wn[k]} vs ${wo[k]}`);
      for (let j = 0; j < M; j++) assert.ok(Object.is(wbgn[j], wbg[j]), `${sparse ? 'sparse' : 'dense'} M=${M} without moments: W'·bg[${j}]`);
      assert.deepEqual(Array.from(mn), [NaN, NaN, NaN, NaN]);
    }
    disposeBatch(c.batch);
  }
});

class Capture implements TensorHooks {
  fwd: Record<number, { z: Float32Array; a: Float32Array }> = {};
  bwd: Record<number, { dz: Float32Array; dW: Float32Array; db: Float32Array }> = {};
  upd: Record<number, { w: Float32Array; v: Float32Array }> = {};
  onForward(t: ForwardTensors) { this.fwd[t.layer] = { z: t.z.dataSync() as Float32Array, a: t.a.dataSync() as Float32Array }; }
  onBackward(t: BackwardTensors) { this.bwd[t.layer] = { dz: t.dz.dataSync() as Float32Array, dW: t.dW.dataSync() as Float32Array, db: t.db.dataSync() as Float32Array }; }
  onUpdate(t: UpdateTensors) { this.upd[t.layer] = { w: t.w.dataSync() as Float32Array, v: t.velocityW.dataSync() as Float32Array }; }
}

/** Trains `steps` batches of `split` with a sparse input form, the float64 reference beside it. */
function trainBeside(split: Split, sizes: number[], acts: Activation[], B: number, steps: number, profile: InputProfile | null, check: (s: number, cap: Capture, ref: ReturnType<typeof refStep>, values: Float32Array, batch: Batch, model: Mlp) => void) {
  const arch = { sizes, activations: acts }, lr = 0.05, mu = 0.9;
  const builder = new BatchBuilder(split, mnist.lut, new Int32Array(split.dim), 10);
  const model = new Mlp(arch, initParams(arch, 4), { lr, momentum: mu }, 'fast', [], profile ?? builder.inputProfile());
  let ref = { params: initParams(arch, 4) as LayerParams[], velocity: null as null | { w: Float64Array; b: Float64Array }[] };
  const order = Uint32Array.from({ length: split.n }, (_, i) => i);
  for (let s = 0; s < steps; s++) {
    const batch = builder.build(order, s * B, B, model.inputForm);
    const x = inputsOf(split, mnist.lut, new Int32Array(split.dim), order, s * B, B);
    const labels = Array.from({ length: B }, (_, i) => split.labels[s * B + i]);
    const r = refStep(ref.params, acts, x, labels, B);
    const cap = new Capture();
    const values = model.step(batch, cap, { step: s, epoch: 1, batchSize: B });
    check(s, cap, r, values, batch, model);
    disposeBatch(batch);
    ref = refSgd(ref.params, ref.velocity, r, lr, mu);
  }
  return { model, ref };
}

test('the engine with the sparse input form: every activation, odd widths, sparse and dense batches, against the float64 reference over several steps', () => {
  // even batches sparse (10% nonzero), odd ones dense (90%): both paths of the input layer
  const split = synthetic(6 * 33, 784, (i) => (Math.floor(i / 33) % 2 ? 0.9 : 0.1), 5);
  for (const acts of [['relu', 'sigmoid', 'relu'], ['sigmoid', 'tanh', 'selu'], ['tanh', 'relu', 'sigmoid'], ['selu', 'selu', 'tanh']] as Activation[][]) {
    const { model, ref } = trainBeside(split, [784, 37, 11, 10], acts, 33, 6, { background: new BatchBuilder(split, mnist.lut, new Int32Array(784), 10).inputProfile().background, density: 0.1 }, (s, cap, r, values, batch, m) => {
      assert.equal(m.inputForm, 'sparse');
      assert.equal(batch.sparse !== undefined, s % 2 === 0, `step ${s} sparse`);
      const label = `${acts.join('-')} step ${s}`;
      assert.ok(Math.abs(values[0] - r.loss) < 1e-4, `${label} loss ${values[0]} vs ${r.loss}`);
      r.layers.forEach((L, i) => {
        const l = i + 1;
        assert.ok(closeness(cap.fwd[l].z, L.z) <= 1, `${label} layer ${l} z`);
        assert.ok(closeness(cap.fwd[l].a, L.a) <= 1, `${label} layer ${l} a`);
        assert.ok(closeness(cap.bwd[l].dz, L.dz, 1e-3, 1e-7) <= 1, `${label} layer ${l} dz`);
        // hooks see the input layer's weights and gradient as [fanOut, fanIn]
        assert.ok(closeness(cap.bwd[l].dW, L.dW, 1e-3, 1e-7) <= 1, `${label} layer ${l} dW`);
        assert.ok(closeness(cap.bwd[l].db, L.db, 1e-3, 1e-7) <= 1, `${label} layer ${l} db`);
      });
      assert.deepEqual(cap.upd[1].w, m.params()[0].w, `${label}: the update hook's weights are the model's`);
    });
    model.params().forEach((p, l) => {
      assert.ok(closeness(p.w, ref.params[l].w, 1e-4, 1e-6) <= 1, `${acts.join('-')} layer ${l + 1} weights`);
      assert.ok(closeness(p.b, ref.params[l].b, 1e-4, 1e-6) <= 1, `${acts.join('-')} layer ${l + 1} biases`);
    });
    model.dispose();
  }
});

test('MNIST takes the sparse input form on wasm; evaluation over the nonzeros gives the dense form\'s figures', () => {
  const acts: Activation[] = ['relu', 'sigmoid', 'relu'], arch = { sizes: [784, 37, 11, 10], activations: acts };
  const builder = new BatchBuilder(mnist.test, mnist.lut, mnist.lutOffset, 10);
  const profile = builder.inputProfile();
  assert.ok(profile.density < 0.25, `MNIST's share of nonzero pixels ${profile.density}`);
  const sparse = new Mlp(arch, initParams(arch, 2), { lr: 0.01, momentum: 0.5 }, 'fast', [], profile);
  const dense = new Mlp(arch, initParams(arch, 2), { lr: 0.01, momentum: 0.5 }, 'fast', [], null);
  assert.equal(sparse.inputForm, 'sparse');
  assert.equal(dense.inputForm, 'dense');
  const order = Uint32Array.from({ length: 300 }, (_, i) => i);
  const a = builder.build(order, 0, 300, 'sparse', false), b = builder.build(order, 0, 300);
  const ds = sparse.evaluateDetail(a), dd = dense.evaluateDetail(b);
  assert.ok(Math.abs(ds.lossSum - dd.lossSum) <= 1e-5 * dd.lossSum, `loss ${ds.lossSum} vs ${dd.lossSum}`);
  assert.equal(ds.correct, dd.correct);
  ds.layers.forEach((l, i) => {
    assert.ok(closeness(l.z, dd.layers[i].z, 1e-4, 1e-6) <= 1, `layer ${i + 1} z`);
    assert.ok(closeness(l.gradNorm, dd.layers[i].gradNorm, 1e-4, 1e-7) <= 1, `layer ${i + 1} gradient norms`);
  });
  for (const x of [a, b]) disposeBatch(x);
  sparse.dispose();
  dense.dispose();
});

test('the sparse input form is deterministic, leaks no tensor, and is dense where it cannot run (PROBE_SPARSE=0, batch norm on the input layer, the cpu backend)', async () => {
  const acts: Activation[] = ['tanh', 'relu', 'sigmoid'], arch = { sizes: [784, 21, 9, 10], activations: acts };
  const run = () => {
    const split = mnist.train, builder = new BatchBuilder(split, mnist.lut, mnist.lutOffset, 10);
    const m = new Mlp(arch, initParams(arch, 9), { lr: 0.1, momentum: 0.9 }, 'fast', [], builder.inputProfile());
    const order = permutation(split.n, rng(9, 'shuffle', 1)), losses: number[] = [];
    let tensors = 0;
    for (let s = 0; s < 5; s++) {
      const batch = builder.build(order, 32 * s, 32, m.inputForm);
      losses.push(m.step(batch, null, { step: s, epoch: 1, batchSize: 32 })[0]);
      disposeBatch(batch);
      if (s === 1) tensors = tf.memory().numTensors;
    }
    assert.equal(tf.memory().numTensors, tensors, 'tensors after steps 2–5');
    const p = m.params();
    m.dispose();
    return { losses, p };
  };
  const x = run(), y = run();
  assert.deepEqual(x.losses, y.losses);
  x.p.forEach((p, l) => assert.deepEqual(p.w, y.p[l].w));
  const profile = new BatchBuilder(mnist.train, mnist.lut, mnist.lutOffset, 10).inputProfile();
  const form = () => Mlp.inputFormFor(acts, 'fast', [], profile);
  assert.equal(form(), 'sparse');
  assert.equal(Mlp.inputFormFor(acts, 'fast', [true, false, false], profile), 'dense');
  assert.equal(Mlp.inputFormFor(acts, 'tape', [], profile), 'dense');
  assert.equal(Mlp.inputFormFor(acts, 'fast', [], { ...profile, density: 0.5 }), 'dense');
  process.env.PROBE_SPARSE = '0';
  try { assert.equal(form(), 'dense'); } finally { delete process.env.PROBE_SPARSE; }
  await useBackend('cpu');
  try { assert.equal(form(), 'dense'); } finally { await useBackend('wasm'); }
});

test('a state read from the sparse input form loads into either form: the same weights, and the sparse form steps on bit for bit', () => {
  const acts: Activation[] = ['relu', 'tanh', 'sigmoid'], arch = { sizes: [784, 21, 9, 10], activations: acts };
  const builder = new BatchBuilder(mnist.train, mnist.lut, mnist.lutOffset, 10), profile = builder.inputProfile();
  const order = permutation(mnist.train.n, rng(4, 'shuffle', 1));
  const make = (p: InputProfile | null) => new Mlp(arch, initParams(arch, 6), { lr: 0.1, momentum: 0.9 }, 'fast', [], p);
  const step = (m: Mlp, s: number) => {
    const batch = builder.build(order, 32 * s, 32, m.inputForm);
    const loss = m.step(batch, null, { step: s, epoch: 1, batchSize: 32 })[0];
    disposeBatch(batch);
    return loss;
  };
  const a = make(profile);
  for (let s = 0; s < 3; s++) step(a, s);
  const state = a.state();
  const b = make(profile), dense = make(null);
  b.loadState(state);
  dense.loadState(state);
  assert.equal(dense.inputForm, 'dense');
  a.params().forEach((p, l) => {
    assert.deepEqual(b.params()[l].w, p.w, `layer ${l + 1} weights, sparse form`);
    assert.deepEqual(dense.params()[l].w, p.w, `layer ${l + 1} weights, dense form`);
  });
  assert.equal(step(b, 3), step(a, 3));
  assert.deepEqual(b.params()[0].w, a.params()[0].w);
  for (const m of [a, b, dense]) m.dispose();
});

test('the optimizer\'s moments only where a probe reads them: a run whose gradients probe is due every 3rd step trains bit for bit as one that reads them every step, and its gradient values are numbers', () => {
  const acts: Activation[] = ['relu', 'sigmoid', 'relu'], sizes = [784, 37, 21, 10], arch = { sizes, activations: acts };
  const layers = acts.map((activation, i) => ({ layer: i + 1, activation, fanIn: sizes[i], fanOut: sizes[i + 1], isOutput: i === 2 }));
  const split = mnist.train, builder = new BatchBuilder(split, mnist.lut, mnist.lutOffset, 10);
  const order = permutation(split.n, rng(5, 'shuffle', 1));
  const train = (hooksAt: (s: number) => TensorHooks | null) => {
    const m = new Mlp(arch, initParams(arch, 5), { lr: 0.1, momentum: 0.5 }, 'fast', [], builder.inputProfile());
    assert.equal(m.inputForm, 'sparse');
    const values: Float32Array[] = [];
    for (let s = 0; s < 7; s++) {
      const batch = builder.build(order, 32 * s, 32, m.inputForm);
      values.push(m.step(batch, hooksAt(s), { step: s, epoch: 1, batchSize: 32 }));
      disposeBatch(batch);
    }
    const p = m.params();
    m.dispose();
    return { values, p };
  };
  const host = new ProbeHost(PROBES, layers, DEFAULT_PROBE_SETTINGS);
  let wanted = 0;
  const lean = train((s) => { host.due(s, 3); if (host.wantsMoments()) wanted++; return host; });
  // hooks without wantsMoments: the engine computes the moments every step
  const full = train(() => ({ onUpdate() { /* reads nothing */ } }));
  assert.equal(wanted, 3, 'steps 0, 3, 6');
  lean.p.forEach((p, l) => { assert.deepEqual(p.w, full.p[l].w, `layer ${l + 1} w`); assert.deepEqual(p.b, full.p[l].b, `layer ${l + 1} b`); });
  assert.deepEqual(lean.values.map((v) => v[0]), full.values.map((v) => v[0]), 'losses');
  // on a step the gradients probe is due, its values (from the moments) are numbers
  host.due(6, 3);
  const grads = host.activeSlots.map((slot, k) => ({ slot: host.slots[slot], v: lean.values[6][1 + k] })).filter(({ slot }) => slot.probe === 'gradients');
  assert.ok(grads.length > 0 && grads.every(({ v }) => Number.isFinite(v)), `gradients at step 6: ${grads.map(({ slot, v }) => `${slot.layer}.${slot.metric}=${v}`).join(' ')}`);
});

test('the input layer\'s stored layout: column blocks of 16 units, each K rows of its units (by hand for 18 × 2), and back', () => {
  const M = 18, K = 2, w = Float32Array.from({ length: M * K }, (_, i) => 10 * Math.floor(i / K) + (i % K)); // w[j, f] = 10j + f
  const stored = Array.from(toInputLayout(w, M, K));
  const block0 = [0, 1].flatMap((f) => Array.from({ length: 16 }, (_, u) => 10 * u + f));
  assert.deepEqual(stored, [...block0, 160, 170, 161, 171]);
  for (let j = 0; j < M; j++) for (let f = 0; f < K; f++) assert.equal(stored[inputOffset(j, f, M, K)], 10 * j + f);
  for (const [m, k] of [[500, 784], [37, 5], [16, 3], [15, 4]]) {
    const x = Float32Array.from({ length: m * k }, (_, i) => i);
    assert.deepEqual(fromInputLayout(toInputLayout(x, m, k), m, k), x, `${m} × ${k}`);
  }
});
