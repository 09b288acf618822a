import * as tf from '@tensorflow/tfjs';
import { defineKernel } from './host.js';

/** [Σx², max|x|] of a tensor of any shape, accumulated in float64. */
export const moments = defineKernel<Record<string, never>>({
  name: 'ProbeMoments',
  inputs: ['x'],
  host([x]) {
    let s0 = 0, s1 = 0, m = 0;
    const n = x.length & ~1;
    let i = 0;
    for (; i < n; i += 2) {
      const a = x[i], b = x[i + 1];
      s0 += a * a; s1 += b * b;
      m = Math.max(m, Math.abs(a), Math.abs(b));
    }
    if (i < x.length) { s0 += x[i] * x[i]; m = Math.max(m, Math.abs(x[i])); }
    return [s0 + s1, m];
  },
  device([x]) {
    return tf.stack([tf.sum(tf.square(x)), tf.max(tf.abs(x))]) as tf.Tensor1D;
  },
});
