import { defineActivation } from './spec.js';

/** min(max(0, z), 6) (tfjs 'relu6', PyTorch nn.ReLU6): dies below 0 like relu, and is flat above 6. */
export const relu6 = defineActivation({
  name: 'relu6',
  formula: 'min(max(0, z), 6)',
  kinks: [0, 6],
  f: (z) => Math.min(Math.max(0, z), 6),
  df: (z) => (z > 0 && z < 6 ? 1 : 0),
  meanDf(z) {
    let s = 0;
    for (let i = 0; i < z.length; i++) s += z[i] > 0 && z[i] < 6 ? 1 : 0;
    return s / z.length;
  },
  forward: (tf, z) => tf.relu6(z),
  derivative: (tf, z) => tf.mul(tf.step(z), tf.step(tf.sub(6, z))),
  // a = 6 exactly: its derivative is 0 there, not nearly 0; the largest float32 below 6 is 6 − 2⁻²¹
  saturation: { low: () => 0, high: () => 6 - 2 ** -21, setting: 'none: exactly 6 (z ≥ 6)' },
  death: { zAtMost: 0 },
});
