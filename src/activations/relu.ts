import { defineActivation } from './spec.js';

/** relu′ is 0 at z = 0, as in PyTorch. */
export const relu = defineActivation({
  name: 'relu',
  formula: 'max(0, z)',
  f: (z) => (z > 0 ? z : 0),
  df: (z) => (z > 0 ? 1 : 0),
  meanDf(z) {
    let s = 0;
    for (let i = 0; i < z.length; i++) s += z[i] > 0 ? 1 : 0;
    return s / z.length;
  },
  forward: (tf, z) => tf.relu(z),
  derivative: (tf, z) => tf.step(z),
  saturation: { cannot: 'unbounded above, and below 0 its derivative is exactly 0: that is death, not saturation' },
  death: { zAtMost: 0 },
});
