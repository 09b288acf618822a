import { defineActivation } from './spec.js';

export const linear = defineActivation({
  name: 'linear',
  formula: 'z',
  f: (z) => z,
  df: () => 1,
  meanDf: () => 1,
  forward: (tf, z) => tf.clone(z),
  derivative: (tf, z) => tf.onesLike(z),
  saturation: { cannot: 'its derivative is 1 everywhere' },
  death: { cannot: 'its derivative is 1 everywhere' },
});
