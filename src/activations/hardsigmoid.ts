import type tfjs from '../tf.cjs';
import { defineActivation } from './spec.js';

/** tfjs's hardSigmoid: clip(0.2z + 0.5, 0, 1). */
export const hardsigmoid = defineActivation({
  name: 'hardsigmoid',
  formula: 'clip(0.2·z + 0.5, 0, 1)',
  kinks: [-2.5, 2.5],
  f: (z) => Math.min(1, Math.max(0, 0.2 * z + 0.5)),
  df: (z) => (z > -2.5 && z < 2.5 ? 0.2 : 0),
  meanDf(z) {
    let s = 0;
    for (let i = 0; i < z.length; i++) s += z[i] > -2.5 && z[i] < 2.5 ? 0.2 : 0;
    return s / z.length;
  },
  forward: (tf, z) => tf.clipByValue(tf.add(tf.mul(z, 0.2), 0.5), 0, 1) as tfjs.Tensor2D,
  derivative: (tf, z) => tf.mul(0.2, tf.mul(tf.step(tf.add(z, 2.5)), tf.step(tf.sub(2.5, z)))),
  // its flat ends are exact: a = 0 or a = 1 (1 − 2⁻²⁴ is the largest float32 below 1)
  saturation: { low: () => Number.MIN_VALUE, high: () => 1 - 2 ** -24, setting: 'none: exactly 0 or 1 (|z| ≥ 2.5)' },
  death: { zAtMost: -2.5 },
});
