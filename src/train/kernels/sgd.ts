/**
 * The optimizer step fused with the moments the gradients probe needs:
 *   v' = v·μ + g,  w' = w − v'·lr  and  [Σg², max|g|, Σv'², Σw'²],
 * one pass over memory (a SIMD WebAssembly kernel on tfjs's own heap for wasm, a JS loop for
 * cpu), or tf ops elsewhere. Outputs are new tensors: XNNPACK caches packed weights by tensor id,
 * so weights must never change in place.
 */
import { readFileSync } from 'node:fs';
import tf from '../../tf.cjs';
import { alloc, hostKernelsEnabled, view, wasmBackend, HOST_BACKENDS } from './host.js';

const NAME = 'ProbeSgdMomentum';

interface SgdModule {
  sgd(g: number, v: number, w: number, vo: number, wo: number, n: number, lr: number, mu: number, stats: number): void;
}

let wasmModule: WebAssembly.Module | null = null;
const instances = new WeakMap<WebAssembly.Memory, SgdModule>();

function sgdFor(memory: WebAssembly.Memory): SgdModule {
  let inst = instances.get(memory);
  if (!inst) {
    wasmModule ??= new WebAssembly.Module(readFileSync(new URL('./sgd.wasm', import.meta.url)));
    inst = new WebAssembly.Instance(wasmModule, { env: { memory } }).exports as unknown as SgdModule;
    instances.set(memory, inst);
  }
  return inst;
}

/** Plain-loop version, for the cpu backend (and as the definition the others must match). */
export function sgdHost(g: Float32Array, v: Float32Array, w: Float32Array, vo: Float32Array, wo: Float32Array, lr: number, mu: number): [number, number, number, number] {
  const f = Math.fround, lr32 = f(lr), mu32 = f(mu);
  let sg = 0, sv = 0, sw = 0, mx = 0;
  for (let i = 0; i < g.length; i++) {
    const gi = g[i];
    const vi = f(f(v[i] * mu32) + gi);
    const wi = f(w[i] - f(vi * lr32));
    vo[i] = vi;
    wo[i] = wi;
    sg += f(gi * gi); sv += f(vi * vi); sw += f(wi * wi);
    const a = Math.abs(gi);
    if (a > mx || Number.isNaN(a)) mx = a;
  }
  return [sg, mx, sv, sw];
}

/** Kernel configs for tfjs's registry (listed in kernels/registry.ts). */
export const sgdKernels: tf.KernelConfig[] = HOST_BACKENDS.map((backendName) => ({
    kernelName: NAME,
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { g, v, w } = inputs as { g: tf.TensorInfo; v: tf.TensorInfo; w: tf.TensorInfo };
      const { lr, mu } = attrs as unknown as { lr: number; mu: number };
      const vo = alloc(backend, w.shape), wo = alloc(backend, w.shape), stats = alloc(backend, [4]);
      if (backendName === 'wasm') {
        const be = wasmBackend(backend);
        const off = (i: tf.TensorInfo) => be.getMemoryOffset(i.dataId);
        // the element count from the shape: a view taken before an allocation may be detached
        const n = w.shape.reduce((a, b) => a * b, 1);
        sgdFor(be.wasm.asm.memory).sgd(off(g), off(v), off(w), off(vo), off(wo), n, lr, mu, off(stats));
      } else {
        const f = (i: tf.TensorInfo) => view(backend, i) as Float32Array;
        f(stats).set(sgdHost(f(g), f(v), f(w), f(vo), f(wo), lr, mu));
      }
      return [vo, wo, stats];
    },
}));

export interface SgdResult {
  readonly v: tf.Tensor2D;
  readonly w: tf.Tensor2D;
  /** [Σg², max|g|, Σv'², Σw'²] */
  readonly moments: tf.Tensor1D;
}

export function sgdMomentum(w: tf.Tensor2D, v: tf.Tensor2D, g: tf.Tensor2D, lr: number, mu: number): SgdResult {
  if (hostKernelsEnabled()) {
    const [vo, wo, moments] = tf.engine().runKernel(NAME, { g, v, w }, { lr, mu }) as tf.Tensor[];
    return { v: vo as tf.Tensor2D, w: wo as tf.Tensor2D, moments: moments as tf.Tensor1D };
  }
  const vo = tf.add<tf.Tensor2D>(tf.mul(v, mu), g);
  const wo = tf.sub<tf.Tensor2D>(w, tf.mul(vo, lr));
  const moments = tf.stack([tf.sum(tf.square(g)), tf.max(tf.abs(g)), tf.sum(tf.square(vo)), tf.sum(tf.square(wo))]) as tf.Tensor1D;
  return { v: vo, w: wo, moments };
}
