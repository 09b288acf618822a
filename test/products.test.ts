import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { backData, dense, kernelSet, KernelSet, ownProducts, useKernelSet, weightGrad, weightGradSgd } from '../src/train/kernels/products.js';
import { rng } from '../src/train/rng.js';
import { useBackend } from './helpers.js';

before(() => useBackend('wasm'));
after(() => useKernelSet(KernelSet.relaxedSimd));

/**
 * Tolerance of a float32 dot product against float64: |c − c64| ≤ 1e-5 · Σ|aᵢ·bᵢ|. Rounding
 * (with or without FMA, in any order) stays far below K·2⁻²⁴·Σ|aᵢbᵢ| for K ≤ 1000; 1e-5 is
 * ~170× the unit roundoff and fails for any wrong or missing term.
 */
function checkProduct(got: ArrayLike<number>, I: number, S: number, N: number, a: (i: number, s: number) => number, b: (s: number, n: number) => number, label: string, bias?: Float32Array): void {
  assert.equal(got.length, I * N, `${label}: size`);
  for (let i = 0; i < I; i++) for (let n = 0; n < N; n++) {
    let c = bias ? bias[i] : 0, mag = bias ? Math.abs(bias[i]) : 0;
    for (let s = 0; s < S; s++) { const t = a(i, s) * b(s, n); c += t; mag += Math.abs(t); }
    const err = Math.abs(got[i * N + n] - c);
    if (!(err <= 1e-5 * mag + 1e-30)) assert.fail(`${label}: [${i}, ${n}] ${got[i * N + n]} vs ${c} (Σ|ab| ${mag})`);
  }
}

const rand = (n: number, seed: number) => {
  const r = rng(seed, 'products');
  return Float32Array.from({ length: n }, () => 2 * r.float() - 1);
};

// odd widths (not multiples of 4 or of the 2×16 block), the study's widths, batch sizes 1, 31, 32, 33,
// and evaluation-sized N over several 64-column panels with a ragged last one (130 = 2·64 + 2)
const SHAPES: [number, number, number][] = [[7, 3, 1], [3, 7, 31], [13, 9, 32], [10, 33, 33], [5, 1, 2], [1, 5, 17], [37, 30, 32], [256, 500, 32], [13, 9, 130], [37, 30, 200]];

for (const set of [KernelSet.relaxedSimd, KernelSet.simd]) {
  test(`product kernels (${set}) match float64 loops for odd shapes and batch sizes 1, 31, 32, 33`, () => {
    useKernelSet(set);
    assert.ok(ownProducts());
    assert.equal(kernelSet(), set);
    for (const [M, K, N] of SHAPES) {
      const W = rand(M * K, M + K), X = rand(K * N, N), b = rand(M, 3), D = rand(M * N, 4), Xb = rand(N * K, 5);
      const label = `${set} ${M}×${K}·${N}`;
      const out = tf.tidy(() => {
        const w = tf.tensor2d(W, [M, K]);
        return [
          dense(w, tf.tensor2d(X, [K, N]), tf.tensor2d(b, [M, 1])),
          backData(w, tf.tensor2d(D, [M, N])),
          weightGrad(tf.tensor2d(D, [M, N]), tf.tensor2d(Xb, [N, K])),
        ];
      });
      const [z, g, dW] = out.map((t) => t.dataSync());
      tf.dispose(out);
      checkProduct(z, M, K, N, (i, s) => W[i * K + s], (s, n) => X[s * N + n], `${label} dense`, b);
      checkProduct(g, K, M, N, (i, s) => W[s * K + i], (s, n) => D[s * N + n], `${label} backData`);
      checkProduct(dW, M, N, K, (i, s) => D[i * N + s], (s, n) => Xb[s * K + n], `${label} weightGrad`);
    }
  });

  test(`the fused weight gradient + SGD kernel (${set}) equals dW then PyTorch's update, bit for bit`, () => {
    useKernelSet(set);
    for (const [M, K, N] of SHAPES) {
      const D = rand(M * N, 6), Xb = rand(N * K, 7), W = rand(M * K, 8), V = rand(M * K, 9);
      const { v, w, moments, dW } = tf.tidy(() => {
        const d = tf.tensor2d(D, [M, N]), xb = tf.tensor2d(Xb, [N, K]);
        const r = weightGradSgd(d, xb, tf.tensor2d(W, [M, K]), tf.tensor2d(V, [M, K]), 0.01, 0.9);
        return { ...r, dW: weightGrad(d, xb) };
      });
      const [vo, wo, m, g] = [v, w, moments, dW].map((t) => t.dataSync());
      tf.dispose([v, w, moments, dW]);
      const f = Math.fround, lr = f(0.01), mu = f(0.9);
      let sg = 0, mx = 0, sv = 0, sw = 0;
      for (let k = 0; k < M * K; k++) {
        const ve = f(f(V[k] * mu) + g[k]), we = f(W[k] - f(ve * lr));
        if (vo[k] !== ve || wo[k] !== we) assert.fail(`${set} ${M}×${K}·${N} [${k}]: v ${vo[k]} vs ${ve}, w ${wo[k]} vs ${we}`);
        sg += g[k] * g[k]; mx = Math.max(mx, Math.abs(g[k])); sv += ve * ve; sw += we * we;
      }
      [sg, mx, sv, sw].forEach((e, j) => assert.ok(Math.abs(m[j] - e) <= 1e-5 * e, `${set} ${M}×${K}·${N} moment ${j}: ${m[j]} vs ${e}`));
      // the kernel without the moments (steps no probe reads them on): the same update, bit for
      // bit, and NaN where the moments would be, never numbers that look like them
      const nm = tf.tidy(() => Object.values(weightGradSgd(tf.tensor2d(D, [M, N]), tf.tensor2d(Xb, [N, K]), tf.tensor2d(W, [M, K]), tf.tensor2d(V, [M, K]), 0.01, 0.9, false)).map((t) => (t as tf.Tensor).dataSync()));
      const [vn, wn, mn] = nm;
      for (let k = 0; k < M * K; k++) if (!Object.is(vn[k], vo[k]) || !Object.is(wn[k], wo[k])) assert.fail(`${set} ${M}×${K}·${N} without moments [${k}]: v ${vn[k]} vs ${vo[k]}, w ${wn[k]} vs ${wo[k]}`);
      assert.deepEqual(Array.from(mn), [NaN, NaN, NaN, NaN], `${set} ${M}×${K}·${N}: moments not computed are NaN`);
    }
  });
}

test('the tfjs path (PROBE_WASM_PRODUCTS=0) computes the same products within the same tolerance', () => {
  process.env.PROBE_WASM_PRODUCTS = '0';
  try {
    assert.equal(kernelSet(), KernelSet.tfjs);
    const [M, K, N] = [37, 30, 33];
    const W = rand(M * K, 1), X = rand(K * N, 2), b = rand(M, 3), D = rand(M * N, 4);
    const out = tf.tidy(() => [dense(tf.tensor2d(W, [M, K]), tf.tensor2d(X, [K, N]), tf.tensor2d(b, [M, 1])), backData(tf.tensor2d(W, [M, K]), tf.tensor2d(D, [M, N]))]);
    const [z, g] = out.map((t) => t.dataSync());
    tf.dispose(out);
    checkProduct(z, M, K, N, (i, s) => W[i * K + s], (s, n) => X[s * N + n], 'tfjs dense', b);
    checkProduct(g, K, M, N, (i, s) => W[s * K + i], (s, n) => D[s * N + n], 'tfjs backData');
  } finally {
    delete process.env.PROBE_WASM_PRODUCTS;
  }
});

test('a NaN in the gradient shows in the fused kernel\'s norm and max', () => {
  useKernelSet(KernelSet.relaxedSimd);
  const [M, K, N] = [9, 11, 5];
  const D = rand(M * N, 1); D[7] = NaN;
  const m = tf.tidy(() => weightGradSgd(tf.tensor2d(D, [M, N]), tf.tensor2d(rand(N * K, 2), [N, K]), tf.tensor2d(rand(M * K, 3), [M, K]), tf.zeros([M, K]), 0.1, 0.5).moments.dataSync());
  assert.ok(Number.isNaN(m[0]) && Number.isNaN(m[1]), `moments ${m}`);
});
