/**
 * Host kernels: tfjs kernels, registered for the backends whose device memory is host memory
 * (wasm: the module's heap; cpu: JS arrays), that read and write tensors in place, zero-copy.
 * A fused statistic costs one pass instead of a chain of tf ops and their per-op overhead.
 * Elsewhere (tfjs-node) every kernel has a composite of tf ops that computes the same values.
 *
 * One kernel = a name, a host function over typed arrays, and a device composite:
 * {@link defineKernel}. `PROBE_HOST_KERNELS=0` forces the composites (tests compare both).
 */
import * as tf from '@tensorflow/tfjs';

type Views = Float32Array | Int32Array;

interface WasmBackend {
  typedArrayFromHeap(info: tf.TensorInfo): Views;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  getMemoryOffset(dataId: tf.DataId): number;
  wasm: { asm: { memory: WebAssembly.Memory } };
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

/** A view of a tensor's memory on a host backend. */
export function view(backend: unknown, info: tf.TensorInfo): Views {
  return tf.getBackend() === 'wasm' ? (backend as unknown as WasmBackend).typedArrayFromHeap(info) : (backend as unknown as CpuBackend).data.get(info.dataId).values;
}

/** A new float32 tensor of `shape` on a host backend, and a view to fill it. */
export function output(backend: unknown, shape: number[]): { info: tf.TensorInfo; data: Float32Array } {
  if (tf.getBackend() === 'wasm') {
    const be = backend as unknown as WasmBackend;
    const info = be.makeOutput(shape, 'float32');
    return { info, data: be.typedArrayFromHeap(info) as Float32Array };
  }
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  return { info: (backend as unknown as CpuBackend).makeTensorInfo(shape, 'float32', data), data };
}

export function wasmBackend(backend: unknown): WasmBackend {
  return backend as unknown as WasmBackend;
}

export interface KernelDef<A extends tf.NamedAttrMap> {
  readonly name: string;
  /** input names, in the order `host` and `device` receive them */
  readonly inputs: readonly string[];
  /** computes the values from views of the inputs' memory */
  host(arrays: readonly Views[], attrs: A, shapes: readonly number[][]): ArrayLike<number>;
  /** the same values from tf ops, for backends without host memory */
  device(tensors: readonly tf.Tensor[], attrs: A): tf.Tensor1D;
}

/** Registers a one-output host kernel and returns the function probes call. */
export function defineKernel<A extends tf.NamedAttrMap>(def: KernelDef<A>): (tensors: readonly tf.Tensor[], attrs: A) => tf.Tensor1D {
  for (const backendName of HOST_BACKENDS) {
    tf.registerKernel({
      kernelName: def.name,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const infos = def.inputs.map((n) => inputs[n] as tf.TensorInfo);
        const values = def.host(infos.map((i) => view(backend, i)), attrs as unknown as A, infos.map((i) => i.shape));
        const out = output(backend, [values.length]);
        out.data.set(values);
        return out.info;
      },
    });
  }
  return (tensors, attrs) => {
    if (!hostKernelsEnabled()) return def.device(tensors, attrs);
    const inputs = Object.fromEntries(def.inputs.map((n, i) => [n, tensors[i]]));
    return tf.engine().runKernel(def.name, inputs, attrs) as tf.Tensor1D;
  };
}

const CONCAT = 'ProbeConcat';
for (const backendName of HOST_BACKENDS) {
  tf.registerKernel({
    kernelName: CONCAT,
    backendName,
    kernelFunc: ({ inputs, backend }) => {
      const parts = Object.keys(inputs).sort((a, b) => Number(a) - Number(b)).map((k) => view(backend, inputs[k] as tf.TensorInfo));
      const out = output(backend, [parts.reduce((s, p) => s + p.length, 0)]);
      let o = 0;
      for (const p of parts) { out.data.set(p, o); o += p.length; }
      return out.info;
    },
  });
}

/** Concatenates small float32 vectors (tf.concat costs ~100 µs for a handful on wasm; this, a copy). */
export function concatVectors(parts: readonly tf.Tensor1D[]): tf.Tensor1D {
  if (parts.length === 1) return parts[0];
  if (!hostKernelsEnabled()) return tf.concat(parts as tf.Tensor1D[]);
  return tf.engine().runKernel(CONCAT, Object.fromEntries(parts.map((p, i) => [String(i), p])), {}) as tf.Tensor1D;
}
