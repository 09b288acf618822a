import * as tf from '@tensorflow/tfjs';
import { defineKernel } from '../train/kernels/host.js';

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
});

export interface MomentInput {
  readonly grad: tf.Tensor;
  readonly before: tf.Tensor;
  readonly after: tf.Tensor;
}

/** Kernel configs for the one registry (kernels/registry.ts). */
export const attachKernels: readonly tf.KernelConfig[] = moments.configs;

/** The four moments over several variables (a separable convolution has two kernels): sums add, maxima max. */
export function weightMoments(parts: readonly MomentInput[]): tf.Tensor1D {
  if (parts.length === 0) return tf.zeros([4]) as tf.Tensor1D;
  const each = parts.map((p) => moments([p.grad, p.before, p.after], {}));
  if (each.length === 1) return each[0];
  const m = tf.stack(each) as tf.Tensor2D;
  const sums = tf.sum(m, 0), maxes = tf.max(m, 0);
  return tf.stack([tf.gather(sums, 0), tf.gather(maxes, 1), tf.gather(sums, 2), tf.gather(sums, 3)]) as tf.Tensor1D;
}
