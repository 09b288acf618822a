import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { SELU_ALPHA, SELU_SCALE, type Activation } from '../src/activations/index.js';
import { backpropActivation } from '../src/train/activation-ops.js';
import { activateFused, backActivation, backDataActivation, biasGradSgd, denseActivate, fusedActivation, weightUpdate } from '../src/train/kernels/fused.js';
import { KernelSet, useKernelSet } from '../src/train/kernels/products.js';
import { rng } from '../src/train/rng.js';
import { runExperiment } from '../src/index.js';
import { readTrace } from '../src/trace/reader.js';
import { allModes, FIXTURES, tmp, useBackend } from './helpers.js';

const NODE = (await allModes()).find((m) => m.name.startsWith('node'))!;
before(() => useBackend('wasm'));
after(() => useKernelSet(KernelSet.relaxedSimd));

const ACTS: Activation[] = ['relu', 'sigmoid', 'tanh', 'selu'];
const LA = SELU_SCALE * SELU_ALPHA;

/** f(z) and f'(z) in float64, written from the definitions (not from the kernels' formulas). */
const F64: Record<Activation, { f: (z: number) => number; df: (z: number) => number }> = {
  relu: { f: (z) => Math.max(0, z), df: (z) => (z > 0 ? 1 : 0) },
  sigmoid: { f: (z) => 1 / (1 + Math.exp(-z)), df: (z) => { const s = 1 / (1 + Math.exp(-z)); return s * (1 - s); } },
  tanh: { f: Math.tanh, df: (z) => 1 - Math.tanh(z) ** 2 },
  selu: { f: (z) => (z > 0 ? SELU_SCALE * z : LA * Math.expm1(z)), df: (z) => (z > 0 ? SELU_SCALE : LA * Math.exp(z)) },
};

/** f'(z) in float64 written in terms of the stored output a where PyTorch's and tfjs's backward use it. */
const dfFromA: Record<Activation, (z: number, a: number) => number> = {
  relu: (z) => (z > 0 ? 1 : 0),
  sigmoid: (_, a) => a * (1 - a),
  tanh: (_, a) => 1 - a * a,
  selu: (z, a) => (z > 0 ? SELU_SCALE : a + LA),
};

/**
 * Tolerance of a fused activation against float64 at the kernel's own z: |a − f(z)| ≤ 1e-6·(|f(z)| + 1e-1).
 * The own exp is within ~2 ulp (relative 2.4e-7) of float64; sigmoid, tanh and selu add a division
 * or a subtraction of 1 (selu's λα(e^z − 1) near 0 and tanh's 1 − 2/(e + 1) lose relative
 * accuracy there, absolute stays ~1e-7): 1e-6 relative is ~8 ulp, plus 1e-7 absolute.
 */
const actClose = (got: number, want: number) => Math.abs(got - want) <= 1e-6 * (Math.abs(want) + 0.1);

const rand = (n: number, seed: number, scale = 1) => {
  const r = rng(seed, 'fused');
  return Float32Array.from({ length: n }, () => scale * (2 * r.float() - 1));
};

// odd widths (--hidden 7,3), not multiples of 4 or of the 2×4-vector block, the study's shapes, batch sizes 1, 31, 32, 33
// the last two: N over several 64-column panels of the kernels, with a ragged last one (as evaluation's 1,000)
const SHAPES: [number, number, number][] = [[7, 13, 1], [3, 7, 31], [7, 3, 32], [13, 9, 33], [5, 1, 2], [10, 256, 33], [256, 500, 32], [13, 9, 130], [37, 30, 203]];

for (const set of [KernelSet.relaxedSimd, KernelSet.simd]) {
  test(`fused forward (${set}): z = W·x + b within float64's product tolerance, a = f(z) within 1e-6 relative, its batch-major copy exact, every activation and odd shape`, () => {
    useKernelSet(set);
    for (const act of ACTS) {
      assert.ok(fusedActivation(act), `${act} runs fused on wasm`);
      for (const [M, K, N] of SHAPES) {
        // inputs wide enough that z covers saturation (|z| up to ~10) as well as the region near 0
        const W = rand(M * K, M + K, 3 / Math.sqrt(K)), X = rand(K * N, N + 1, 2), b = rand(M, 5, 0.5);
        const { z, a, aT } = tf.tidy(() => {
          const r = denseActivate(tf.tensor2d(W, [M, K]), tf.tensor2d(X, [K, N]), tf.tensor2d(b, [M, 1]), act, true);
          assert.deepEqual(r.aT?.shape, [N, M], 'the batch-major copy of a');
          return { z: r.z.dataSync(), a: r.a.dataSync(), aT: r.aT!.dataSync() };
        });
        assert.equal(z.length, M * N);
        assert.equal(a.length, M * N);
        for (let i = 0; i < M; i++) for (let n = 0; n < N; n++) if (!Object.is(aT[n * M + i], a[i * N + n])) assert.fail(`${set} ${act} ${M}×${K}·${N} aT[${n}, ${i}] ${aT[n * M + i]} vs a ${a[i * N + n]}`);
        for (let i = 0; i < M; i++) for (let n = 0; n < N; n++) {
          let c = b[i], mag = Math.abs(b[i]);
          for (let s = 0; s < K; s++) { const t = W[i * K + s] * X[s * N + n]; c += t; mag += Math.abs(t); }
          const k = i * N + n;
          if (!(Math.abs(z[k] - c) <= 1e-5 * mag)) assert.fail(`${set} ${act} ${M}×${K}·${N} z[${i}, ${n}] ${z[k]} vs ${c}`);
          if (!actClose(a[k], F64[act].f(z[k]))) assert.fail(`${set} ${act} ${M}×${K}·${N} a[${i}, ${n}] = ${a[k]} vs f(${z[k]}) = ${F64[act].f(z[k])}`);
        }
      }
    }
  });

  test(`fused backward (${set}): dz = (Wᵀ·d) ⊙ f'(z) against float64, every activation and odd shape`, () => {
    useKernelSet(set);
    for (const act of ACTS) {
      for (const [M, K, N] of SHAPES) {
        const W = rand(M * K, 11, 1), D = rand(M * N, 12), Z = rand(K * N, 13, 4);
        const A = Float32Array.from(Z, (z) => F64[act].f(z));
        const dz = tf.tidy(() => backDataActivation(tf.tensor2d(W, [M, K]), tf.tensor2d(D, [M, N]), tf.tensor2d(Z, [K, N]), tf.tensor2d(A, [K, N]), act).dataSync());
        assert.equal(dz.length, K * N);
        for (let i = 0; i < K; i++) for (let n = 0; n < N; n++) {
          let g = 0, mag = 0;
          for (let s = 0; s < M; s++) { const t = W[s * K + i] * D[s * N + n]; g += t; mag += Math.abs(t); }
          // the slope from the float32 a the layer stored, as the spec and tfjs's ops take it
          // (1 − a² near saturation keeps a's rounding, which float64 tanh(z) would not see)
          const k = i * N + n, d = dfFromA[act](Z[k], A[k]);
          // the product's 1e-5·Σ|ab|, times the slope; the slope's own float32 rounding (1 − a·a
          // and a·(1 − a) round at 1's scale: 2 ulp of 1 absolute, 1e-6 relative)
          if (!(Math.abs(dz[k] - g * d) <= 1e-5 * mag * Math.abs(d) + (1e-6 * Math.abs(d) + 2.4e-7) * Math.abs(g) + 1e-30)) assert.fail(`${set} ${act} ${M}×${K}·${N} dz[${i}, ${n}] ${dz[k]} vs ${g * d}`);
        }
      }
    }
  });
}

test('fused output-layer derivative equals tfjs\'s ops bit for bit (same operations, same order), odd sizes', () => {
  for (const act of ACTS) {
    for (const [R, N] of [[5, 1], [7, 31], [10, 32], [3, 33]]) {
      const G = rand(R * N, 21), Z = rand(R * N, 22, 5);
      Z[0] = 0; // relu' and selu' at exactly 0, as PyTorch: the left branch
      const A = Float32Array.from(Z, (z) => F64[act].f(z));
      const [fused, ops] = tf.tidy(() => {
        const g = tf.tensor2d(G, [R, N]), z = tf.tensor2d(Z, [R, N]), a = tf.tensor2d(A, [R, N]);
        return [backActivation(g, z, a, act).dataSync(), backpropActivation(g, z, a, act).dataSync()];
      });
      assert.deepEqual(fused, ops, `${act} ${R}×${N}`);
    }
  }
});

test('fused kernels carry NaN and ±∞: NaN in z gives NaN in a and dz for every activation (a diverged run is never hidden as zeros); saturation gives the limits', () => {
  const zs = [NaN, Infinity, -Infinity, 200, -200, 88.8, -88, 0, -0.62, 0.63, 1e-30];
  const N = zs.length;
  for (const act of ACTS) {
    const { a, dz, ref } = tf.tidy(() => {
      const r = denseActivate(tf.tensor2d([1], [1, 1]), tf.tensor2d(zs, [1, N]), tf.zeros([1, 1]), act);
      const g = tf.ones([1, N]) as tf.Tensor2D;
      return { a: r.a.dataSync(), dz: backActivation(g, r.z, r.a, act).dataSync(), ref: backpropActivation(g, r.z, r.a, act).dataSync() };
    });
    assert.ok(Number.isNaN(a[0]) && Number.isNaN(dz[0]), `${act}: NaN → a ${a[0]}, dz ${dz[0]}`);
    for (let k = 1; k < N; k++) {
      const want = F64[act].f(zs[k]);
      assert.ok(a[k] === want || actClose(a[k], want), `${act}: f(${zs[k]}) = ${a[k]}, float64 ${want}`);
    }
    dz.forEach((d, k) => assert.ok(Object.is(d, ref[k]), `${act}: derivative at ${zs[k]}: ${d}, tfjs's ops ${ref[k]}`));
  }
});

test('PROBE_FUSED=0 runs the separate product and tfjs\'s activation ops, which agree with the fused kernels within the tolerance', () => {
  const [M, K, N] = [13, 30, 33];
  const W = rand(M * K, 31, 0.6), X = rand(K * N, 32, 2), b = rand(M, 33);
  for (const act of ACTS) {
    const run = () => tf.tidy(() => {
      const r = denseActivate(tf.tensor2d(W, [M, K]), tf.tensor2d(X, [K, N]), tf.tensor2d(b, [M, 1]), act);
      return { z: r.z.dataSync(), a: r.a.dataSync() };
    });
    const fused = run();
    process.env.PROBE_FUSED = '0';
    let plain;
    try {
      assert.equal(fusedActivation(act), false);
      plain = run();
    } finally {
      delete process.env.PROBE_FUSED;
    }
    // the same product kernel: z bit for bit; a from different exp implementations
    assert.deepEqual(fused.z, plain.z, `${act} z`);
    for (let k = 0; k < fused.a.length; k++) assert.ok(actClose(fused.a[k], plain.a[k]), `${act} a[${k}] ${fused.a[k]} vs tfjs ${plain.a[k]}`);
  }
});

test('tfjs-node: the fused kernels (one engine op each) and tfjs\'s separate ops both match float64', { skip: NODE.skip }, async () => {
  await NODE.enter();
  try {
    for (const act of ACTS) {
      assert.ok(fusedActivation(act), `${act} runs fused on tfjs-node`);
      for (const [M, K, N] of SHAPES) {
        const W = rand(M * K, M + K, 3 / Math.sqrt(K)), X = rand(K * N, N + 1, 2), b = rand(M, 5, 0.5), D = rand(M * N, 12);
        const run = () => tf.tidy(() => {
          const w = tf.tensor2d(W, [M, K]), { z, a } = denseActivate(w, tf.tensor2d(X, [K, N]), tf.tensor2d(b, [M, 1]), act);
          return { z: z.dataSync(), a: a.dataSync(), top: backActivation(tf.tensor2d(D, [M, N]), z, a, act).dataSync() };
        });
        const before = tf.memory().numTensors;
        const fused = run();
        assert.equal(tf.memory().numTensors, before, `${act}: no tensor leaks`);
        process.env.PROBE_FUSED = '0';
        let plain;
        try { plain = run(); } finally { delete process.env.PROBE_FUSED; }
        for (let i = 0; i < M; i++) for (let n = 0; n < N; n++) {
          let c = b[i], mag = Math.abs(b[i]);
          for (let s = 0; s < K; s++) { const t = W[i * K + s] * X[s * N + n]; c += t; mag += Math.abs(t); }
          const k = i * N + n, label = `node ${act} ${M}×${K}·${N} [${i}, ${n}]`;
          assert.ok(Math.abs(fused.z[k] - c) <= 1e-5 * mag, `${label} z ${fused.z[k]} vs ${c}`);
          assert.ok(actClose(fused.a[k], F64[act].f(fused.z[k])), `${label} a ${fused.a[k]} vs f(z) ${F64[act].f(fused.z[k])}`);
          const d = dfFromA[act](fused.z[k], fused.a[k]), g = D[k];
          assert.ok(Math.abs(fused.top[k] - g * d) <= (1e-6 * Math.abs(d) + 2.4e-7) * Math.abs(g) + 1e-30, `${label} dz ${fused.top[k]} vs ${g * d}`);
          // the separate ops (MatMul through tfjs's kernel rounds differently) pass the same checks at their own z
          assert.ok(Math.abs(plain.z[k] - c) <= 1e-5 * mag && actClose(plain.a[k], F64[act].f(plain.z[k])), `${label} tfjs ops z ${plain.z[k]}, a ${plain.a[k]}`);
        }
        // the backward product with the derivative, against float64
        const Z = rand(K * N, 13, 4), A = Float32Array.from(Z, (z) => F64[act].f(z));
        const dz = tf.tidy(() => backDataActivation(tf.tensor2d(W, [M, K]), tf.tensor2d(D, [M, N]), tf.tensor2d(Z, [K, N]), tf.tensor2d(A, [K, N]), act).dataSync());
        for (let i = 0; i < K; i++) for (let n = 0; n < N; n++) {
          let g = 0, mag = 0;
          for (let s = 0; s < M; s++) { const t = W[s * K + i] * D[s * N + n]; g += t; mag += Math.abs(t); }
          const k = i * N + n, d = dfFromA[act](Z[k], A[k]);
          assert.ok(Math.abs(dz[k] - g * d) <= 1e-5 * mag * Math.abs(d) + (1e-6 * Math.abs(d) + 2.4e-7) * Math.abs(g) + 1e-30, `node ${act} ${M}×${K}·${N} back dz[${i}, ${n}] ${dz[k]} vs ${g * d}`);
        }
      }
    }
  } finally {
    await NODE.leave();
  }
});

/** The fused bias gradient + SGD against float64 sums and PyTorch's update applied to the kernel's own db. */
function checkBiasSgd(label: string): void {
  for (const [M, N] of [[7, 1], [3, 31], [13, 32], [10, 33], [500, 32]]) {
    const D = rand(M * N, 41), B = rand(M, 42), V = rand(M, 43);
    const { db, v, w, m } = tf.tidy(() => {
      const r = biasGradSgd(tf.tensor2d(D, [M, N]), tf.tensor2d(B, [M, 1]), tf.tensor2d(V, [M, 1]), 0.01, 0.9);
      return { db: r.db.dataSync(), v: r.B.v.dataSync(), w: r.B.w.dataSync(), m: r.B.moments.dataSync() };
    });
    assert.equal(db.length, M);
    const f = Math.fround, lr = f(0.01), mu = f(0.9);
    let sg = 0, mx = 0, sv = 0, sw = 0;
    for (let i = 0; i < M; i++) {
      let s = 0, mag = 0;
      for (let n = 0; n < N; n++) { s += D[i * N + n]; mag += Math.abs(D[i * N + n]); }
      assert.ok(Math.abs(db[i] - s) <= 1e-6 * mag, `${label} ${M}×${N} db[${i}] ${db[i]} vs ${s}`);
      const ve = f(f(V[i] * mu) + db[i]), we = f(B[i] - f(ve * lr));
      // node's chain may fuse differently; one ulp either way
      assert.ok(Math.abs(v[i] - ve) <= 1.2e-7 * Math.abs(ve) && Math.abs(w[i] - we) <= 1.2e-7 * Math.abs(we), `${label} ${M}×${N} [${i}]: v ${v[i]} vs ${ve}, b ${w[i]} vs ${we}`);
      sg += db[i] * db[i]; mx = Math.max(mx, Math.abs(db[i])); sv += ve * ve; sw += we * we;
    }
    [sg, mx, sv, sw].forEach((e, j) => assert.ok(Math.abs(m[j] - e) <= 1e-5 * e, `${label} ${M}×${N} moment ${j}: ${m[j]} vs ${e}`));
  }
  const D = rand(5 * 3, 44); D[4] = NaN;
  const m = tf.tidy(() => biasGradSgd(tf.tensor2d(D, [5, 3]), tf.zeros([5, 1]), tf.zeros([5, 1]), 0.1, 0.5).B.moments.dataSync());
  assert.ok(Number.isNaN(m[0]) && Number.isNaN(m[1]), `${label}: a NaN gradient shows in the moments ${m}`);
}

test('fused bias gradient + SGD (wasm): db = Σ over the batch within 1e-6·Σ|d| of float64, PyTorch\'s update on it, its moments', () => {
  checkBiasSgd('wasm');
});

test('fused bias gradient + SGD (tfjs-node): the same checks', { skip: NODE.skip }, async () => {
  await NODE.enter();
  try { checkBiasSgd('node'); } finally { await NODE.leave(); }
});

/** SGD on w with dW = d·xᵀ from the feature-major x, against float64 dW and PyTorch's update. */
function checkWeightUpdate(label: string): void {
  for (const [M, K, N] of SHAPES) {
    const D = rand(M * N, 51), X = rand(K * N, 52), W = rand(M * K, 53), V = rand(M * K, 54);
    let made = 0;
    const { v, w, m } = tf.tidy(() => {
      const x = tf.tensor2d(X, [K, N]);
      const r = weightUpdate(tf.tensor2d(D, [M, N]), x, () => { made++; return tf.transpose(x) as tf.Tensor2D; }, tf.tensor2d(W, [M, K]), tf.tensor2d(V, [M, K]), 0.01, 0.9);
      return { v: r.v.dataSync(), w: r.w.dataSync(), m: r.moments.dataSync() };
    });
    if (label === 'node') assert.equal(made, 0, 'tfjs-node multiplies by xᵀ itself: no transposed copy');
    let sg = 0, sv = 0, sw = 0;
    for (let i = 0; i < M; i++) for (let k = 0; k < K; k++) {
      let g = 0, mag = 0;
      for (let n = 0; n < N; n++) { const t = D[i * N + n] * X[k * N + n]; g += t; mag += Math.abs(t); }
      const j = i * K + k, ve = 0.9 * V[j] + g, we = W[j] - 0.01 * ve;
      const tol = 1e-5 * mag + 2.4e-7 * (Math.abs(ve) + Math.abs(V[j]));
      assert.ok(Math.abs(v[j] - ve) <= tol && Math.abs(w[j] - we) <= 0.01 * tol + 1.2e-7 * Math.abs(W[j]), `${label} ${M}×${K}·${N} [${i}, ${k}]: v ${v[j]} vs ${ve}, w ${w[j]} vs ${we}`);
      sg += g * g; sv += ve * ve; sw += we * we;
    }
    [[0, sg], [2, sv], [3, sw]].forEach(([k, e]) => assert.ok(Math.abs(m[k] - e) <= 1e-4 * e, `${label} ${M}×${K}·${N} moment ${k}: ${m[k]} vs ${e}`));
  }
}

test('weight update from the feature-major input (wasm: the batch-major copy into the fused dW + SGD kernel)', () => {
  checkWeightUpdate('wasm');
});

test('weight update from the feature-major input (tfjs-node: MatMul by xᵀ and SGD in one engine op)', { skip: NODE.skip }, async () => {
  await NODE.enter();
  try { checkWeightUpdate('node'); } finally { await NODE.leave(); }
});

/** The activation alone (layers after batch norm): float64 within the tolerance, NaN in → NaN out, odd sizes. */
function checkActivateAlone(label: string): void {
  for (const act of ACTS) {
    for (const [R, N] of [[7, 1], [3, 31], [13, 32], [5, 33]]) {
      const Z = rand(R * N, 61, 8);
      Z[1] = NaN;
      const a = tf.tidy(() => activateFused(tf.tensor2d(Z, [R, N]), act).dataSync());
      assert.ok(Number.isNaN(a[1]), `${label} ${act}: f(NaN) = ${a[1]}`);
      for (let k = 0; k < Z.length; k++) if (k !== 1) assert.ok(actClose(a[k], F64[act].f(Z[k])), `${label} ${act} ${R}×${N} f(${Z[k]}) = ${a[k]}, float64 ${F64[act].f(Z[k])}`);
    }
  }
}

test('the activation alone, for z from batch norm (wasm): float64 within the tolerance, NaN in → NaN out', () => {
  checkActivateAlone('wasm');
});

test('the activation alone (tfjs-node): the same checks', { skip: NODE.skip }, async () => {
  await NODE.enter();
  try { checkActivateAlone('node'); } finally { await NODE.leave(); }
});

test('same seed, settings and backend give the same trace with the fused path; the trace says whether it ran', async () => {
  const run = async () => {
    const r = await runExperiment({ dataDir: FIXTURES, backend: 'wasm', epochs: '1', combo: 'tanh-selu-sigmoid' }, { out: tmp() });
    return readTrace(r.path);
  };
  const [a, b] = [await run(), await run()];
  assert.equal(a.facts.fusedActivations, true);
  const [c, d] = [a.columns, b.columns];
  assert.ok(c.value.length > 0);
  assert.equal(c.value.length, d.value.length);
  // every row but the wall-clock timings, bit for bit (NaN equal to NaN)
  for (let i = 0; i < c.value.length; i++) {
    if (c.probes[c.probe[i]] === 'timing') continue;
    assert.ok(Object.is(c.value[i], d.value[i]), `${c.probes[c.probe[i]]}/${c.metrics[c.metric[i]]} step ${c.step[i]} layer ${c.layer[i]}: ${c.value[i]} vs ${d.value[i]}`);
  }
  process.env.PROBE_FUSED = '0';
  try {
    assert.equal((await run()).facts.fusedActivations, false);
  } finally {
    delete process.env.PROBE_FUSED;
  }
});
