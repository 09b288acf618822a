import tf from '../tf.cjs';
import { alloc, defineKernel, wasmBackend } from '../train/kernels/host.js';
import type { H } from '../train/kernels/tf-raw.js';
import { productsFor } from '../train/kernels/products.js';

/**
 * [Σg², max|g|, Σ(w_before − w_after)², Σw_after²] in one pass over a gradient and the variable
 * before and after the optimizer moved it: the engine's fused SGD kernel yields the same four
 * figures (with ΔW = lr·v), so the gradients probe reads either unchanged. Any optimizer works:
 * the step is measured, not assumed.
 */
const moments = defineKernel<Record<string, never>>({
  name: 'AttachMoments',
  inputs: ['g', 'wb', 'wa'],
  host([g, wb, wa]) {
    let gg = 0, gm = 0, dd = 0, ww = 0;
    for (let i = 0; i < g.length; i++) {
      const x = g[i];
      gg += x * x;
      const m = Math.abs(x);
      if (m > gm) gm = m;
      const d = wb[i] - wa[i];
      dd += d * d;
      ww += wa[i] * wa[i];
    }
    return [gg, gm, dd, ww];
  },
  device([g, wb, wa]) {
    return tf.stack([tf.sum(tf.square(g)), tf.max(tf.abs(g)), tf.sum(tf.square(tf.sub(wb, wa))), tf.sum(tf.square(wa))]) as tf.Tensor1D;
  },
  tensorflow(r, { g, wb, wa }) {
    const sq = (x: H) => r.reduce('Sum', r.one('Square', [x]));
    return [r.pack([sq(g), r.reduce('Max', r.one('Abs', [g])), sq(r.one('Sub', [wb, wa])), sq(wa)])];
  },
});

export interface MomentInput {
  readonly grad: tf.Tensor;
  readonly before: tf.Tensor;
  readonly after: tf.Tensor;
}

/**
 * On wasm the same figures in one SIMD pass over tfjs's heap (wat/attach-moments.js): the
 * host loop above ran at ~1.7 ms per step of the study's MLP, half of the attached probes' cost
 * with model.fit. The cpu backend keeps the host loop.
 */
const wasmMoments: tf.KernelConfig = {
  kernelName: 'AttachMoments',
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend }) => {
    const { g, wb, wa } = inputs as Record<string, tf.TensorInfo>;
    // the output first: allocating may grow wasm memory, and offsets are taken after
    const out = alloc(backend, [4]);
    const be = wasmBackend(backend), off = (i: tf.TensorInfo) => be.getMemoryOffset(i.dataId);
    productsFor(be.wasm.asm.memory).moments(off(g), off(wb), off(wa), g.shape.reduce((a, b) => a * b, 1), off(out));
    return out;
  },
};

/** The attach path's kernel configs, registered by its session (kernels/registry.ts takes them). */
export const attachKernels: readonly tf.KernelConfig[] = moments.configs.map((c) => (c.backendName === 'wasm' ? wasmMoments : c));

/** The four moments over several variables (a separable convolution has two kernels): sums add, maxima max. */
export function weightMoments(parts: readonly MomentInput[]): tf.Tensor1D {
  if (parts.length === 0) return tf.zeros([4]) as tf.Tensor1D;
  const each = parts.map((p) => moments([p.grad, p.before, p.after], {}));
  if (each.length === 1) return each[0];
  const m = tf.stack(each) as tf.Tensor2D;
  const sums = tf.sum(m, 0), maxes = tf.max(m, 0);
  return tf.stack([tf.gather(sums, 0), tf.gather(maxes, 1), tf.gather(sums, 2), tf.gather(sums, 3)]) as tf.Tensor1D;
}
