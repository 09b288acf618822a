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
 * velocity are stored input-major, `[K, M]` (a row per input feature), so a nonzero reads one
 * contiguous row; engine.ts keeps that layout and gives hooks the usual `[M, K]`.
 *
 * - {@link sparseDenseActivate}: z = W·x + b and a = f(z) (feature-major) and aT (batch-major)
 * - {@link inputWeightUpdate}: SGD with momentum with dW over the nonzeros (sparse batch) or as
 *   the dense product on `xf` (a batch too dense for it), with the moments and the new W·bg
 */
import * as tf from '@tensorflow/tfjs';
import { SELU_ALPHA, SELU_SCALE } from '../../activations/index.js';
import type { SparseInput } from '../sparse-input.js';
import type { FusedActivation } from './fused.js';
import { alloc, wasmBackend } from './host.js';
import { productsFor, type ProductsModule } from './wasm-module.js';

type Infos = Record<string, tf.TensorInfo>;
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
      const [, M] = w.shape;
      const z = alloc(backend, [M, n]), a = alloc(backend, [M, n]), aT = alloc(backend, [n, M]);
      const { m, off } = moduleOf(backend);
      const [p0, p1] = act === 'selu' ? [SELU_SCALE, SELU_SCALE * SELU_ALPHA] : [0, 0];
      // by sample: starts at 0, features after them; values from 0
      m[`sparse_${act}`](off(w), M, off(index), off(index) + 4 * (n + 1), off(value), n, off(wbg), off(b), off(z), off(a), off(aT), p0, p1);
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
    kernelName: NAMES.denseSgd, backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, dT, bg, w, v } = inputs as Infos;
      const { lr, mu, moments } = attrs as unknown as { lr: number; mu: number; moments: boolean };
      const [K, M] = w.shape, N = x.shape[1];
      const stats = alloc(backend, [4]), wbg = alloc(backend, [M]);
      const { m, off } = moduleOf(backend);
      // dWᵀ[K × M] = x[K × N] · dzᵀ[N × M], w and v updated in place
      (moments ? m.gemm_sgd : m.gemm_sgd_nm)(off(x), N, 1, off(dT), K, N, M, off(v), off(w), off(v), off(w), lr, mu, off(stats), off(bg), off(wbg));
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
 * `w` and `v` are updated in place: the pass is bound by memory traffic (two 1.5 MB arrays read
 * and written every step), and writing new arrays reads their lines in first, a third more
 * traffic: best of 60 interleaved rounds under load 404 → 379 µs, median 1947 → 1571 µs. The
 * engine owns both tensors and reads neither again for the old values.
 */
export function inputWeightUpdate(dzT: tf.Tensor2D, xf: tf.Tensor2D, input: SparseInput | undefined, db: tf.Tensor2D, bg: tf.Tensor1D, w: tf.Tensor2D, v: tf.Tensor2D, lr: number, mu: number, withMoments = true): InputUpdate {
  const out = input?.byFeature
    ? tf.engine().runKernel(NAMES.sgd, { dT: dzT, index: input.index, value: input.value, bg, db, w, v }, { lr, mu, n: xf.shape[1], nnz: input.nnz, moments: withMoments }) as tf.Tensor[]
    : tf.engine().runKernel(NAMES.denseSgd, { x: xf, dT: dzT, bg, w, v }, { lr, mu, moments: withMoments }) as tf.Tensor[];
  const [moments, wbg] = out;
  return { moments: moments as tf.Tensor1D, wbg: wbg as tf.Tensor1D };
}
