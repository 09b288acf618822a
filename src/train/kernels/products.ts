/**
 * The step's three matrix products as own WebAssembly kernels on tfjs-backend-wasm's heap
 * (products.wat.js generates them): register-blocked SIMD, `f32x4.relaxed_madd` where the runtime
 * has relaxed SIMD, plain `f32x4.mul` + `f32x4.add` otherwise. On other backends each has a
 * composite of tf ops computing the same values (up to rounding).
 *
 * - {@link dense}: u = W·x + b (forward)
 * - {@link backData}: g = Wᵀ·du (backward to the layer below)
 * - {@link weightGradSgd}: dW = du·xᵀ fused with SGD with momentum; dW is never stored
 * - {@link weightGrad}: dW alone, for hooks that ask for it (same arithmetic as the fused kernel)
 *
 * FMA rounds once where mul + add rounds twice, so values differ from tfjs's products in the last
 * bits (relative ~1e-6 on the study's shapes); the tests allow 1e-4 relative against float64.
 */
import tf from '../../tf.cjs';
import { alloc, hostKernelsEnabled, wasmBackend } from './host.js';
import { sgdMomentum, type SgdResult } from './sgd.js';
import { compiledSet, KernelSet, productsFor } from './wasm-module.js';

export { KernelSet, productsFor, productsModule, useKernelSet, type ProductsModule } from './wasm-module.js';

/** True when the products run as own kernels (wasm backend; `PROBE_WASM_PRODUCTS=0` turns them off). */
export function ownProducts(): boolean {
  return tf.getBackend() === 'wasm' && hostKernelsEnabled() && process.env.PROBE_WASM_PRODUCTS !== '0';
}

/** The product kernels the current backend runs. */
export function kernelSet(): KernelSet {
  return ownProducts() ? compiledSet() : KernelSet.tfjs;
}

const NAMES = { dense: 'ProbeDense', backData: 'ProbeBackData', weightGrad: 'ProbeWeightGrad', weightGradSgd: 'ProbeWeightGradSgd' } as const;

type Infos = Record<string, tf.TensorInfo>;
const n = (i: tf.TensorInfo, d: number) => i.shape[d];

/** Kernel configs for tfjs's registry (listed in kernels/registry.ts). */
export const productKernels: tf.KernelConfig[] = [
  {
    kernelName: NAMES.dense, backendName: 'wasm',
    kernelFunc: ({ inputs, backend }) => {
      const { w, x, b } = inputs as Infos;
      const out = alloc(backend, [n(w, 0), n(x, 1)]);
      const be = wasmBackend(backend), off = (i: tf.TensorInfo) => be.getMemoryOffset(i.dataId);
      productsFor(be.wasm.asm.memory).gemm(off(w), n(w, 1), 1, off(x), off(out), n(w, 0), n(w, 1), n(x, 1), off(b));
      return out;
    },
  },
  {
    kernelName: NAMES.backData, backendName: 'wasm',
    kernelFunc: ({ inputs, backend }) => {
      const { w, d } = inputs as Infos;
      const out = alloc(backend, [n(w, 1), n(d, 1)]);
      const be = wasmBackend(backend), off = (i: tf.TensorInfo) => be.getMemoryOffset(i.dataId);
      productsFor(be.wasm.asm.memory).gemm(off(w), 1, n(w, 1), off(d), off(out), n(w, 1), n(w, 0), n(d, 1), 0);
      return out;
    },
  },
  {
    kernelName: NAMES.weightGrad, backendName: 'wasm',
    kernelFunc: ({ inputs, backend }) => {
      const { d, xb } = inputs as Infos;
      const out = alloc(backend, [n(d, 0), n(xb, 1)]);
      const be = wasmBackend(backend), off = (i: tf.TensorInfo) => be.getMemoryOffset(i.dataId);
      productsFor(be.wasm.asm.memory).gemm(off(d), n(d, 1), 1, off(xb), off(out), n(d, 0), n(d, 1), n(xb, 1), 0);
      return out;
    },
  },
  {
    kernelName: NAMES.weightGradSgd, backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { d, xb, w, v } = inputs as Infos;
      const { lr, mu, moments } = attrs as unknown as { lr: number; mu: number; moments: boolean };
      const vo = alloc(backend, w.shape), wo = alloc(backend, w.shape), stats = alloc(backend, [4]);
      const be = wasmBackend(backend), off = (i: tf.TensorInfo) => be.getMemoryOffset(i.dataId);
      const m = productsFor(be.wasm.asm.memory);
      (moments ? m.gemm_sgd : m.gemm_sgd_nm)(off(d), n(d, 1), 1, off(xb), n(d, 0), n(d, 1), n(xb, 1), off(v), off(w), off(vo), off(wo), lr, mu, off(stats), 0, 0);
      return [vo, wo, stats];
    },
  },
];

/** u = W·x + b: `w` `[M, K]`, `x` `[K, N]`, `b` `[M, 1]` → `[M, N]`. */
export function dense(w: tf.Tensor2D, x: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  if (ownProducts()) return tf.engine().runKernel(NAMES.dense, { w, x, b }) as tf.Tensor2D;
  return tf.add<tf.Tensor2D>(tf.matMul(w, x), b);
}

/** g = Wᵀ·d: `w` `[M, K]`, `d` `[M, N]` → `[K, N]`. */
export function backData(w: tf.Tensor2D, d: tf.Tensor2D): tf.Tensor2D {
  if (ownProducts()) return tf.engine().runKernel(NAMES.backData, { w, d }) as tf.Tensor2D;
  // Wᵀ·d computed as (dᵀ·W)ᵀ: transposing the small d, not the large W, is ~3× cheaper in XNNPACK
  return tf.transpose(tf.matMul(tf.transpose(d), w)) as tf.Tensor2D;
}

/** dW = d·xb: `d` `[M, N]`, `xb` `[N, K]` (batch-major input) → `[M, K]`. */
export function weightGrad(d: tf.Tensor2D, xb: tf.Tensor2D): tf.Tensor2D {
  if (ownProducts()) return tf.engine().runKernel(NAMES.weightGrad, { d, xb }) as tf.Tensor2D;
  return tf.matMul(d, xb) as tf.Tensor2D;
}

/**
 * SGD with momentum on `w` with the gradient d·xb, which the own kernel never stores. Without
 * `withMoments` the own kernel skips the moments (NaN), half its arithmetic; the update is the same.
 */
export function weightGradSgd(d: tf.Tensor2D, xb: tf.Tensor2D, w: tf.Tensor2D, v: tf.Tensor2D, lr: number, mu: number, withMoments = true): SgdResult {
  if (ownProducts()) {
    const [vo, wo, moments] = tf.engine().runKernel(NAMES.weightGradSgd, { d, xb, w, v }, { lr, mu, moments: withMoments }) as tf.Tensor[];
    return { v: vo as tf.Tensor2D, w: wo as tf.Tensor2D, moments: moments as tf.Tensor1D };
  }
  return sgdMomentum(w, v, weightGrad(d, xb), lr, mu);
}
