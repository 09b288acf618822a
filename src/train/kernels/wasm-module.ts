/**
 * The product module (products.wat.js: the step's products, the fused activations, the probes'
 * statistics) compiled once per process and instantiated once per wasm heap. Its own file so that
 * host.ts (the probes' kernels) and products.ts can both reach it without importing each other.
 */
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';

/** Which product kernels run: recorded in the trace's facts. */
export const KernelSet = { relaxedSimd: 'wasm-relaxed-simd', simd: 'wasm-simd', tfjs: 'tfjs' } as const;
export type KernelSet = (typeof KernelSet)[keyof typeof KernelSet];

type SparseForward = (W: number, M: number, K: number, RP: number, RI: number, RV: number, N: number, WBG: number, b: number, Z: number, A: number, T: number, p0: number, p1: number) => void;

export interface ProductsModule {
  gemm(A: number, ai: number, as: number, B: number, C: number, I: number, S: number, N: number, bias: number): void;
  /** n iterations of 8 register-only multiply-adds on f32x4 (64 flop each): the wasm peak */
  peak(n: number): number;
  /** dW = A·B fused with SGD; with BG ≠ 0 also WBG ← W'ᵀ·BG (an input-major layer's weights times the background) */
  gemm_sgd(A: number, ai: number, as: number, B: number, I: number, S: number, N: number, V: number, W: number, Vo: number, Wo: number, lr: number, mu: number, stats: number, BG: number, WBG: number): void;
  /** {@link gemm_sgd} without the moments (stats ← NaN): the same v', w', W'ᵀ·BG */
  gemm_sgd_nm: ProductsModule['gemm_sgd'];
  /** the input layer over a sparse input (wat/sparse.js), one export per fused activation */
  sparse_relu: SparseForward;
  sparse_sigmoid: SparseForward;
  sparse_tanh: SparseForward;
  sparse_selu: SparseForward;
  sparse_sgd(DT: number, M: number, CP: number, CI: number, CV: number, K: number, BG: number, DB: number, V: number, W: number, Vo: number, Wo: number, lr: number, mu: number, WBG: number, stats: number): void;
  /** a batch's nonzeros by sample (IDX, VAL) also listed by feature, after them (wat/sparse.js) */
  sparse_by_feature(IDX: number, VAL: number, N: number, nnz: number, K: number): void;
  /** {@link sparse_sgd} without the moments (stats ← NaN) */
  sparse_sgd_nm: ProductsModule['sparse_sgd'];
  /** attach/moments.ts: [Σg², max|g|, Σ(wb − wa)², Σwa²] over n floats into out */
  moments(G: number, WB: number, WA: number, n: number, out: number): void;
  /** the probes' statistics (host.ts: {@link WasmStats}); out in a scratch region */
  relu_counts(Z: number, U: number, N: number, at: number, out: number): void;
  sat_none(A: number, Z: number, n: number, lo: number, hi: number, p0: number, p1: number, out: number): void;
  sat_sigmoid(A: number, Z: number, n: number, lo: number, hi: number, p0: number, p1: number, out: number): void;
  sat_tanh(A: number, Z: number, n: number, lo: number, hi: number, p0: number, p1: number, out: number): void;
  sat_selu(A: number, Z: number, n: number, lo: number, hi: number, p0: number, p1: number, out: number): void;
  sumsq_max(P: number, n: number, out: number): void;
}

let compiled: { module: WebAssembly.Module; set: KernelSet } | null = null;
let instances = new WeakMap<WebAssembly.Memory, ProductsModule>();

const load = (f: string) => readFileSync(new URL(f, import.meta.url));

/**
 * Compiles the relaxed-SIMD module if the runtime accepts it, else the plain one. Node 20 needs
 * the V8 flag set before the module is compiled; Node ≥ 22 has relaxed SIMD on.
 */
function compile(): { module: WebAssembly.Module; set: KernelSet } {
  if (compiled) return compiled;
  if (process.env.PROBE_RELAXED_SIMD !== '0') {
    try {
      setFlagsFromString('--experimental-wasm-relaxed-simd');
      compiled = { module: new WebAssembly.Module(load('./products.wasm')), set: KernelSet.relaxedSimd };
      return compiled;
    } catch { /* no relaxed SIMD here: the plain module below */ }
  }
  compiled = { module: new WebAssembly.Module(load('./products-simd.wasm')), set: KernelSet.simd };
  return compiled;
}

/**
 * Runs the given module from now on (tests and the bench compare both); throws if the runtime
 * cannot compile it.
 */
export function useKernelSet(set: typeof KernelSet.relaxedSimd | typeof KernelSet.simd): void {
  if (set === KernelSet.relaxedSimd) setFlagsFromString('--experimental-wasm-relaxed-simd');
  compiled = { module: new WebAssembly.Module(load(set === KernelSet.relaxedSimd ? './products.wasm' : './products-simd.wasm')), set };
  instances = new WeakMap();
}

/** An instance of one kernel set's module, for the bench (its peak loop). */
export function productsModule(set: typeof KernelSet.relaxedSimd | typeof KernelSet.simd): ProductsModule {
  if (set === KernelSet.relaxedSimd) setFlagsFromString('--experimental-wasm-relaxed-simd');
  const mod = new WebAssembly.Module(load(set === KernelSet.relaxedSimd ? './products.wasm' : './products-simd.wasm'));
  return new WebAssembly.Instance(mod, { env: { memory: new WebAssembly.Memory({ initial: 1 }) } }).exports as unknown as ProductsModule;
}

/** The product module's instance on a wasm heap (one per memory; fused.ts calls its other exports). */
export function productsFor(memory: WebAssembly.Memory): ProductsModule {
  let inst = instances.get(memory);
  if (!inst) {
    inst = new WebAssembly.Instance(compile().module, { env: { memory } }).exports as unknown as ProductsModule;
    instances.set(memory, inst);
  }
  return inst;
}

/** The kernel set the module compiled for this runtime is (relaxed SIMD when it has it). */
export function compiledSet(): KernelSet {
  return compile().set;
}
