/**
 * Host kernels: tfjs kernels, registered for the backends whose device memory is host memory
 * (wasm: the module's heap; cpu: JS arrays), that read and write tensors in place, zero-copy.
 * A fused statistic costs one pass instead of a chain of tf ops and their per-op overhead.
 * Elsewhere (tfjs-node) every kernel has a composite of tf ops that computes the same values.
 *
 * One kernel = a name, a host function over typed arrays, and a device composite:
 * {@link defineKernel}; kernels/registry.ts registers the configs it is given. `PROBE_HOST_KERNELS=0` forces the composites (tests compare both).
 */
import tf from '../../tf.cjs';
import { rawKernel, type H, type Raw, type RawImpl } from './tf-raw.js';
import { productsFor, type ProductsModule } from './wasm-module.js';

type Views = Float32Array | Int32Array;

interface WasmBackend {
  typedArrayFromHeap(info: tf.TensorInfo): Views;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  getMemoryOffset(dataId: tf.DataId): number;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
  wasm: { asm: { memory: WebAssembly.Memory; malloc?: (bytes: number) => number; free?: (ptr: number) => void }; _malloc(bytes: number): number; _free(ptr: number): void };
}

interface CpuBackend {
  data: { get(dataId: tf.DataId): { values: Views } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Views): tf.TensorInfo;
}

export const HOST_BACKENDS = ['wasm', 'cpu'] as const;

/** Backends with every fused kernel registered: the host ones, and tfjs-node once kernels/tensorflow.ts loads. */
export const FUSED_BACKENDS = new Set<string>(HOST_BACKENDS);

export function hostKernelsEnabled(): boolean {
  return process.env.PROBE_HOST_KERNELS !== '0' && FUSED_BACKENDS.has(tf.getBackend());
}

/**
 * A view of a tensor's memory on a host backend.
 *
 * On wasm a view is a window on the module's `ArrayBuffer`; allocating a tensor may grow the
 * memory, which detaches every view taken before (it then reads as length 0). So a kernel
 * allocates all its outputs first ({@link alloc}) and takes views only after the last allocation.
 */
export function view(backend: unknown, info: tf.TensorInfo): Views {
  return tf.getBackend() === 'wasm' ? (backend as unknown as WasmBackend).typedArrayFromHeap(info) : (backend as unknown as CpuBackend).data.get(info.dataId).values;
}

/** A new float32 tensor of `shape` on a host backend; take its {@link view} after the last `alloc`. */
export function alloc(backend: unknown, shape: number[]): tf.TensorInfo {
  if (tf.getBackend() === 'wasm') return (backend as unknown as WasmBackend).makeOutput(shape, 'float32');
  return (backend as unknown as CpuBackend).makeTensorInfo(shape, 'float32', new Float32Array(shape.reduce((a, b) => a * b, 1)));
}

export function wasmBackend(backend: unknown): WasmBackend {
  return backend as unknown as WasmBackend;
}

/** Byte alignment of the tensors' memory once {@link alignTensorMemory} ran: a cache line. */
export const TENSOR_ALIGN = 64;
const aligned = new WeakSet<object>();

/**
 * Makes every tensor tfjs-backend-wasm allocates from now on start on a 64-byte cache line.
 *
 * Its allocator (emscripten's malloc) aligns to 8 bytes only, so a tensor starts anywhere in a
 * cache line, and the product kernels' 64-byte groups of a row (16 floats) straddle two lines. The
 * backward product of the study's second layer (Wᵀ·du, 256 × 500 by 256 × 32), kernel alone on
 * its own memory: 163–166 µs with all three arrays on a line's start, 214–220 with each 16, 32 or
 * 48 bytes past one (alternated, quiet).
 *
 * tfjs allocates a tensor's memory with `wasm._malloc` and frees it with `wasm._free`, both called
 * through the module object, so both are wrapped: an allocation asks for 56 bytes more and
 * returns the first line start in it; a free of such an address frees the address malloc gave.
 * Addresses the wrapper did not hand out (tensors alive before, buffers the module's own C++
 * allocated and tfjs frees) are freed as they are. Once per backend instance.
 */
export function alignTensorMemory(backend: unknown): void {
  const be = backend as WasmBackend;
  if (aligned.has(be)) return;
  aligned.add(be);
  // the module's own exports: its `_malloc`, `_free` are stubs that replace themselves with these
  // on first call (emscripten's lazy binding), which would undo the wrapping
  const wasm = be.wasm, malloc = wasm?.asm?.malloc, free = wasm?.asm?.free;
  if (typeof malloc !== 'function' || typeof free !== 'function') return;
  const given = new Map<number, number>();
  wasm._malloc = (bytes: number): number => {
    const p = malloc(bytes + TENSOR_ALIGN - 8) >>> 0;
    if (p === 0) return p;
    const a = (p + TENSOR_ALIGN - 1) & -TENSOR_ALIGN;
    if (a !== p) given.set(a >>> 0, p);
    return a >>> 0;
  };
  wasm._free = (ptr: number): void => {
    const p = given.get(ptr >>> 0);
    if (p === undefined) return free(ptr);
    given.delete(ptr >>> 0);
    free(p);
  };
}

export interface KernelDef<A extends tf.NamedAttrMap> {
  readonly name: string;
  /** input names, in the order `host` and `device` receive them */
  readonly inputs: readonly string[];
  /** computes the values from views of the inputs' memory, into a new array (never a view: the output's allocation may detach those) */
  host(arrays: readonly Views[], attrs: A, shapes: readonly number[][]): ArrayLike<number>;
  /** the same values from tf ops, for backends without host memory */
  device(tensors: readonly tf.Tensor[], attrs: A): tf.Tensor1D;
  /**
   * On tfjs-node: the same values as raw TensorFlow ops (tf-raw.ts), one engine op in all; the
   * inputs by name. Without it, tfjs-node runs {@link device}.
   */
  tensorflow?(r: Raw, inputs: Readonly<Record<string, H>>, attrs: A): H[];
  /**
   * On tfjs-backend-wasm: the same values from the product module's SIMD statistics, given the
   * inputs' offsets on its heap; null where they do not apply (then {@link host} runs).
   */
  wasm?(stats: WasmStats, offsets: readonly number[], attrs: A, shapes: readonly number[][], ids: readonly object[]): ArrayLike<number> | null;
}

/** Activations whose mean derivative {@link WasmStats.saturation} computes (from a, and z for selu). */
export type SatKind = 'none' | 'sigmoid' | 'tanh' | 'selu';

/**
 * The probes' statistics as one SIMD pass each over a tensor on tfjs-backend-wasm's heap
 * (wat/stats.js), replacing a JavaScript loop with a data-dependent branch per entry. Results
 * come back as plain numbers or copies; arguments are heap offsets.
 */
export interface WasmStats {
  /**
   * z `[units, batch]`: per unit the count of z > at (`active`); per sample whether some unit has
   * ¬(z ≤ at) (`alive`: active or NaN); Σ(z ≤ at) (`off`); units with z ≤ at for every sample.
   * `id` (the tensor's dataId, never reused) lets a second probe of the same z in the same step
   * (dead-relu, then unit activity) reuse the counts instead of a second pass.
   */
  reluCounts(z: number, units: number, batch: number, at: number, id?: object): ReluCounts;
  /** over n entries: [#(a < lo), #(a > hi), Σ f′] (f′ from a, and from z for selu with λ = p0, λα = p1; 0 for 'none') */
  saturation(kind: SatKind, a: number, z: number, n: number, lo: number, hi: number, p0: number, p1: number): [number, number, number];
  /** [Σx², max|x|] over n floats (max ignores NaN) */
  sumSquaresMax(p: number, n: number): [number, number];
  /** n floats at offset p, as numbers */
  floats(p: number, n: number): number[];
}

/**
 * What {@link WasmStats.reluCounts} found: valid until the next call (the array is reused, not
 * allocated: a probed step allocates as little as it can, since every young object it leaves makes
 * the next scavenge longer).
 */
export interface ReluCounts {
  /** the active count of each unit (`units` entries), then each sample's alive flag (`batch` entries; 0 = every unit off) */
  readonly counts: Int32Array;
  readonly off: number;
  readonly deadUnits: number;
}

/** `PROBE_WASM_STATS=0` runs the probes' JavaScript loops on wasm too (tests compare both). */
export function wasmStatsEnabled(): boolean {
  return process.env.PROBE_WASM_STATS !== '0';
}

const statsByMemory = new WeakMap<WebAssembly.Memory, WasmStats>();

/** The statistics bound to a wasm backend's heap, with their scratch region (malloc'd once, grown when a call needs more). */
export function wasmStats(backend: unknown): WasmStats {
  const be = wasmBackend(backend), memory = be.wasm.asm.memory;
  let stats = statsByMemory.get(memory);
  if (stats) return stats;
  const mod: ProductsModule = productsFor(memory);
  let scratch = 0, capacity = 0;
  // offsets stay valid if malloc grows the memory; only views taken before would detach
  const room = (bytes: number) => {
    if (bytes <= capacity) return scratch;
    if (scratch) be.wasm._free(scratch);
    capacity = Math.max(bytes, 64 * 1024);
    scratch = be.wasm._malloc(capacity) >>> 0; // malloc aligns to 8 at least: f64 indexes below rely on it
    return scratch;
  };
  // views of the whole heap, remade only when the memory grew (its buffer is then a new one)
  let buffer: ArrayBuffer | null = null, i32 = new Int32Array(0), f32 = new Float32Array(0), f64 = new Float64Array(0);
  const heap = () => {
    if (buffer !== memory.buffer) { buffer = memory.buffer; i32 = new Int32Array(buffer); f32 = new Float32Array(buffer); f64 = new Float64Array(buffer); }
  };
  // the last relu counts, with the tensor (dataId) and threshold they are of
  let kept = new Int32Array(0), last: { id: object | undefined; at: number; n: number } = { id: undefined, at: NaN, n: 0 };
  stats = {
    reluCounts(z, units, batch, at, id) {
      const n = units + batch + 2;
      if (!(id && last.id === id && last.at === at && last.n === n)) {
        const out = room(4 * n);
        mod.relu_counts(z, units, batch, at, out);
        heap();
        if (kept.length < n) kept = new Int32Array(2 * n);
        kept.set(i32.subarray(out >>> 2, (out >>> 2) + n));
        last = { id, at, n };
      }
      return { counts: kept, off: kept[units + batch], deadUnits: kept[units + batch + 1] };
    },
    saturation(kind, a, z, n, lo, hi, p0, p1) {
      const out = room(24);
      mod[`sat_${kind}`](a, z, n, lo, hi, p0, p1, out);
      heap();
      const o = out >>> 3;
      return [f64[o], f64[o + 1], f64[o + 2]];
    },
    sumSquaresMax(p, n) {
      const out = room(16);
      mod.sumsq_max(p, n, out);
      heap();
      const o = out >>> 3;
      return [f64[o], f64[o + 1]];
    },
    floats(p, n) {
      heap();
      const o = p >>> 2, r: number[] = [];
      for (let k = 0; k < n; k++) r.push(f32[o + k]);
      return r;
    },
  };
  statsByMemory.set(memory, stats);
  return stats;
}

/** The function probes call, and the kernel configs behind it (for kernels/registry.ts). */
export type HostKernel<A extends tf.NamedAttrMap> = ((tensors: readonly tf.Tensor[], attrs: A) => tf.Tensor1D) & {
  readonly configs: readonly tf.KernelConfig[];
  /**
   * The values now, as numbers, on a host backend: computed straight from the inputs' memory (the
   * wasm form, else the loop), with no engine op and no output tensor — the ~5-7 µs tfjs spends on
   * each op (kernel lookup, scope tracking, output allocation, disposal) was half a probed step's
   * cost. Elsewhere (tfjs-node, `PROBE_HOST_KERNELS=0`) the kernel's tensor, as calling it gives.
   */
  readonly eager: (tensors: readonly tf.Tensor[], attrs: A) => tf.Tensor1D | ArrayLike<number>;
  /** the tf-op composite, for a case a backend's fused kernel does not cover */
  readonly device: (tensors: readonly tf.Tensor[], attrs: A) => tf.Tensor1D;
};

/**
 * Defines a one-output kernel in its forms (host loop, optional SIMD and raw TensorFlow forms, tf-op
 * composite); its `configs` are registered by whoever runs it (a ProbeHost its probes'), not on import.
 */
export function defineKernel<A extends tf.NamedAttrMap>(def: KernelDef<A>): HostKernel<A> {
  /** the values from host memory: the wasm form where it applies, else the loop (never a view of the heap) */
  const compute = (backend: unknown, backendName: string, infos: readonly tf.TensorInfo[], attrs: A): ArrayLike<number> => {
    const shapes = infos.map((i) => i.shape);
    if (def.wasm && backendName === 'wasm' && wasmStatsEnabled()) {
      const be = wasmBackend(backend);
      const fast = def.wasm(wasmStats(backend), infos.map((i) => be.getMemoryOffset(i.dataId)), attrs, shapes, infos.map((i) => i.dataId as object));
      if (fast) return fast;
    }
    return def.host(infos.map((i) => view(backend, i)), attrs, shapes);
  };
  const hostConfigs = HOST_BACKENDS.map((backendName): tf.KernelConfig => ({
    kernelName: def.name,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const values = compute(backend, backendName, def.inputs.map((n) => inputs[n] as tf.TensorInfo), attrs as unknown as A);
      const out = alloc(backend, [values.length]);
      (view(backend, out) as Float32Array).set(values);
      return out;
    },
  }));
  const configs = def.tensorflow ? [...hostConfigs, rawKernel(def.name, def.tensorflow as unknown as RawImpl)] : hostConfigs;
  const run = (tensors: readonly tf.Tensor[], attrs: A): tf.Tensor1D => {
    // tfjs-node without a raw form: the composite of tf ops
    if (!hostKernelsEnabled() || (!def.tensorflow && tf.getBackend() === 'tensorflow')) return def.device(tensors, attrs);
    const inputs = Object.fromEntries(def.inputs.map((n, i) => [n, tensors[i]]));
    return tf.engine().runKernel(def.name, inputs, attrs) as tf.Tensor1D;
  };
  const eager = (tensors: readonly tf.Tensor[], attrs: A): tf.Tensor1D | ArrayLike<number> => {
    const name = tf.getBackend();
    if (!hostKernelsEnabled() || !(HOST_BACKENDS as readonly string[]).includes(name)) return run(tensors, attrs);
    return compute(tf.backend(), name, tensors, attrs);
  };
  return Object.assign(run, { configs, device: def.device, eager });
}

const CONCAT = 'ProbeConcat';
/** Kernel configs for tfjs's registry (the engine's, engine-kernels.ts). */
export const concatKernels: tf.KernelConfig[] = HOST_BACKENDS.map((backendName) => ({
    kernelName: CONCAT,
    backendName,
    kernelFunc: ({ inputs, backend }) => {
      const infos = Object.keys(inputs).sort((a, b) => Number(a) - Number(b)).map((k) => inputs[k] as tf.TensorInfo);
      const out = alloc(backend, [infos.reduce((s, i) => s + i.shape.reduce((a, b) => a * b, 1), 0)]);
      const data = view(backend, out) as Float32Array;
      let o = 0;
      for (const i of infos) { const p = view(backend, i); data.set(p, o); o += p.length; }
      return out;
    },
}));

/** Concatenates small float32 vectors (tf.concat costs ~100 µs for a handful on wasm; this, a copy). */
export function concatVectors(parts: readonly tf.Tensor1D[]): tf.Tensor1D {
  if (parts.length === 1) return parts[0];
  if (!hostKernelsEnabled()) return tf.concat(parts as tf.Tensor1D[]);
  return tf.engine().runKernel(CONCAT, Object.fromEntries(parts.map((p, i) => [String(i), p])), {}) as tf.Tensor1D;
}
