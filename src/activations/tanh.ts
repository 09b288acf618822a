import { defineActivation } from './spec.js';

export const tanh = defineActivation({
  name: 'tanh',
  formula: 'tanh(z)',
  f: (z) => Math.tanh(z),
  df: (_z, a) => 1 - a * a,
  meanDf(_z, a) {
    let s = 0;
    for (let i = 0; i < a.length; i++) { const v = a[i]; s += 1 - v * v; }
    return s / a.length;
  },
  forward: (tf, z) => tf.tanh(z),
  derivative: (tf, _z, a) => tf.sub(1, tf.square(a)),
  saturation: { low: (s) => -s.tanhSat, high: (s) => s.tanhSat, setting: '--tanh-sat' },
  death: { cannot: 'its derivative 1 − a² is never exactly 0' },
});
