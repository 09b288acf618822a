/**
 * The input layer of a mostly-background input (MNIST: 81% of a digit's pixels are exactly the
 * background), on the own wasm kernels (wat/sparse.js). An input is x = bg + d with bg the
 * dataset's background per feature and d its nonzeros (batch.ts), so
 *
 *   W·x = W·d + W·bg        dW = dz·dᵀ + (dz·1)·bgᵀ = dz·dᵀ + db·bgᵀ
 *
 * and both products run over the nonzeros of d: the layer's 50 of the step's 75 MFLOP become ~9
 * on MNIST. W·bg (`wbg`) is kept by every update of W, computed from the updated rows as they are
 * written (never carried forward on its own: no drift over a run). The layer's weights and
 * velocity are stored input-major in column blocks of {@link INPUT_BLOCK} units (tensors of
 * `[K, M]` floats, laid out by {@link toInputLayout}), so a nonzero reads one 64-byte row of a block
 * and a block's rows lie together; engine.ts keeps that layout and gives hooks, states and params
 * the usual `[M, K]` ({@link fromInputLayout}).
 *
 * - {@link sparseDenseActivate}: z = W·x + b and a = f(z) (feature-major) and aT (batch-major)
 * - {@link inputWeightUpdate}: SGD with momentum with dW over the nonzeros (sparse batch) or as
 *   the dense product on `xf` (a batch too dense for it), with the moments and the new W·bg
 */
import tf from '../../tf.cjs';
import { SELU_ALPHA, SELU_SCALE } from '../../activations/index.js';
import type { SparseInput } from '../sparse-input.js';
import type { FusedActivation } from './fused.js';
import { alloc, view, wasmBackend } from './host.js';
import { productsFor, type ProductsModule } from './wasm-module.js';

type Infos = Record<string, tf.TensorInfo>;

/** Units per column block of the input layer's stored weights (wat/sparse.js's BLOCK). */
export const INPUT_BLOCK = 16;

/** Where weight (unit j, feature f) of an M × K layer lies in its stored form: block by block, each K rows of ≤ 16 units. */
export function inputOffset(j: number, f: number, M: number, K: number): number {
  const jb = j - (j % INPUT_BLOCK);
  return jb * K + f * Math.min(INPUT_BLOCK, M - jb) + (j - jb);
}

/** The stored form of `w` `[M, K]` (fanOut × fanIn, as PyTorch and traces give weights). */
export function toInputLayout(w: ArrayLike<number>, M: number, K: number): Float32Array {
  const out = new Float32Array(M * K);
  for (let jb = 0; jb < M; jb += INPUT_BLOCK) {
    const width = Math.min(INPUT_BLOCK, M - jb), base = jb * K;
    for (let f = 0; f < K; f++) for (let u = 0; u < width; u++) out[base + f * width + u] = w[(jb + u) * K + f];
  }
  return out;
}

/** `[M, K]` from the stored form (the inverse of {@link toInputLayout}). */
export function fromInputLayout(s: ArrayLike<number>, M: number, K: number): Float32Array {
  const out = new Float32Array(M * K);
  for (let jb = 0; jb < M; jb += INPUT_BLOCK) {
    const width = Math.min(INPUT_BLOCK, M - jb), base = jb * K;
    for (let f = 0; f < K; f++) for (let u = 0; u < width; u++) out[(jb + u) * K + f] = s[base + f * width + u];
  }
  return out;
}
const NAMES = { forward: 'ProbeSparseDenseAct', sgd: 'ProbeSparseSgd', denseSgd: 'ProbeInputSgd' } as const;

function moduleOf(backend: unknown): { m: ProductsModule; off: (i: tf.TensorInfo) => number } {
  const be = wasmBackend(backend);
  return { m: productsFor(be.wasm.asm.memory), off: (i) => be.getMemoryOffset(i.dataId) };
}

/** Kernel configs for tfjs's registry (the engine's, engine-kernels.ts). */
export const sparseKernels: tf.KernelConfig[] = [
  {
    kernelName: NAMES.forward, backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { w, index, value, wbg, b } = inputs as Infos;
      const { act, n } = attrs as unknown as { act: FusedActivation; n: number };
      const [K, M] = w.shape;
      const z = alloc(backend, [M, n]), a = alloc(backend, [M, n]), aT = alloc(backend, [n, M]);
      const { m, off } = moduleOf(backend);
      const [p0, p1] = act === 'selu' ? [SELU_SCALE, SELU_SCALE * SELU_ALPHA] : [0, 0];
      // by sample: starts at 0, features after them; values from 0
      m[`sparse_${act}`](off(w), M, K, off(index), off(index) + 4 * (n + 1), off(value), n, off(wbg), off(b), off(z), off(a), off(aT), p0, p1);
      return [z, a, aT];
    },
  },
  {
    kernelName: NAMES.sgd, backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { dT, index, value, bg, db, w, v } = inputs as Infos;
      const { lr, mu, n, nnz, moments } = attrs as unknown as { lr: number; mu: number; n: number; nnz: number; moments: boolean };
      const [K, M] = w.shape;
      const stats = alloc(backend, [4]), wbg = alloc(backend, [M]);
      const { m, off } = moduleOf(backend);
      // by feature, after the by-sample lists: starts, then samples; values after the by-sample ones
      const cp = off(index) + 4 * (n + 1 + nnz);
      // w and v updated in place (see inputWeightUpdate)
      (moments ? m.sparse_sgd : m.sparse_sgd_nm)(off(dT), M, cp, cp + 4 * (K + 1), off(value) + 4 * nnz, K, off(bg), off(db), off(v), off(w), off(v), off(w), lr, mu, off(wbg), off(stats));
      return [stats, wbg];
    },
  },
  {
    // a batch too dense for the lists (rare on MNIST: more than SPARSE_BELOW of its pixels nonzero):
    // the dense product fused with SGD, one call per column block of the stored weights (each
    // block is K rows of its units: the product's own row-major output); dzᵀ's columns of the block
    // copied together first. The same sums, element by element, as one product over all units.
    kernelName: NAMES.denseSgd, backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, dT, bg, w, v } = inputs as Infos;
      const { lr, mu, moments } = attrs as unknown as { lr: number; mu: number; moments: boolean };
      const [K, M] = w.shape, N = x.shape[1], blocks = Math.ceil(M / INPUT_BLOCK);
      const stats = alloc(backend, [4]), wbg = alloc(backend, [M]);
      const cols = alloc(backend, [N, INPUT_BLOCK]), parts = alloc(backend, [blocks, 4]);
      const { m, off } = moduleOf(backend);
      const sgd = moments ? m.gemm_sgd : m.gemm_sgd_nm;
      for (let c = 0; c < blocks; c++) {
        const jb = c * INPUT_BLOCK, width = Math.min(INPUT_BLOCK, M - jb);
        // views after the allocations, taken afresh around the wasm call (which allocates nothing)
        const d = view(backend, dT) as Float32Array, col = view(backend, cols) as Float32Array;
        for (let n = 0; n < N; n++) for (let u = 0; u < width; u++) col[n * width + u] = d[n * M + jb + u];
        const at = 4 * jb * K;
        // dWᵀ[K × width] = x[K × N] · dzᵀ[N × width], the block's w and v in place, its W'·bg
        sgd(off(x), N, 1, off(cols), K, N, width, off(v) + at, off(w) + at, off(v) + at, off(w) + at, lr, mu, off(parts) + 16 * c, off(bg), off(wbg) + 4 * jb);
      }
      const p = view(backend, parts) as Float32Array, out = view(backend, stats) as Float32Array;
      let sg = 0, mx = 0, sv = 0, sw = 0;
      for (let c = 0; c < blocks; c++) {
        sg += p[4 * c]; sv += p[4 * c + 2]; sw += p[4 * c + 3];
        mx = Number.isNaN(mx) || Number.isNaN(p[4 * c + 1]) ? NaN : Math.max(mx, p[4 * c + 1]);
      }
      out.set(moments ? [sg, mx, sv, sw] : [NaN, NaN, NaN, NaN]);
      const be = wasmBackend(backend);
      be.disposeData(cols.dataId);
      be.disposeData(parts.dataId);
      return [stats, wbg];
    },
  },
];

/**
 * z = W·x + b and a = f(z) for the input-major `w` `[K, M]` over a sparse batch of `n` samples
 * (`wbg` = W·bg `[M]`, `b` `[M, 1]`): z, a `[M, n]` and aT `[n, M]`.
 */
export function sparseDenseActivate(w: tf.Tensor2D, input: SparseInput, n: number, wbg: tf.Tensor1D, b: tf.Tensor2D, act: FusedActivation): { z: tf.Tensor2D; a: tf.Tensor2D; aT: tf.Tensor2D } {
  const [z, a, aT] = tf.engine().runKernel(NAMES.forward, { w, index: input.index, value: input.value, wbg, b }, { act, n }) as tf.Tensor2D[];
  return { z, a, aT };
}

export interface InputUpdate {
  /** [Σg², max|g|, Σv'², Σw'²] */
  readonly moments: tf.Tensor1D;
  /** W'·bg, for the next forward */
  readonly wbg: tf.Tensor1D;
}

/**
 * SGD with momentum on the input-major `w`, `v` `[K, M]` with dW = dz·xᵀ: over the nonzeros of a
 * sparse batch (with `db` = Σ_batch dz `[M, 1]`), else the dense product with `xf` `[K, N]`;
 * `dzT` is dz batch-major `[N, M]`, `bg` the background `[K]`. Without `withMoments`, `moments`
 * is NaN (the kernels skip them: the same update, ~12% of a step less).
 *
 * `w` and `v` are updated in place: the pass reads and writes two 1.5 MB arrays every step, and
 * writing new arrays reads their lines in first, a third more traffic: best of 60 interleaved
 * rounds under load 404 → 379 µs, median 1947 → 1571 µs. (The traffic alone is not what bounds
 * it: a plain C loop doing just v' = μv + g, w' = w − lr·v' over both takes 0.06 ms here; the
 * pass's ~0.35 ms is its arithmetic.) The engine owns both tensors and reads neither again for
 * the old values.
 */
export function inputWeightUpdate(dzT: tf.Tensor2D, xf: tf.Tensor2D, input: SparseInput | undefined, db: tf.Tensor2D, bg: tf.Tensor1D, w: tf.Tensor2D, v: tf.Tensor2D, lr: number, mu: number, withMoments = true): InputUpdate {
  const out = input?.byFeature
    ? tf.engine().runKernel(NAMES.sgd, { dT: dzT, index: input.index, value: input.value, bg, db, w, v }, { lr, mu, n: xf.shape[1], nnz: input.nnz, moments: withMoments }) as tf.Tensor[]
    : tf.engine().runKernel(NAMES.denseSgd, { x: xf, dT: dzT, bg, w, v }, { lr, mu, moments: withMoments }) as tf.Tensor[];
  const [moments, wbg] = out;
  return { moments: moments as tf.Tensor1D, wbg: wbg as tf.Tensor1D };
}
