import { defineActivation } from './spec.js';

export const sigmoid = defineActivation({
  name: 'sigmoid',
  formula: '1 / (1 + e^−z)',
  f: (z) => 1 / (1 + Math.exp(-z)),
  df: (_z, a) => a * (1 - a),
  meanDf(_z, a) {
    let s = 0;
    for (let i = 0; i < a.length; i++) { const v = a[i]; s += v * (1 - v); }
    return s / a.length;
  },
  forward: (tf, z) => tf.sigmoid(z),
  derivative: (tf, _z, a) => tf.mul(a, tf.sub(1, a)),
  saturation: { low: (s) => s.sigmoidLow, high: (s) => s.sigmoidHigh, setting: '--sigmoid-low, --sigmoid-high' },
  death: { cannot: 'its derivative a(1 − a) is never exactly 0' },
});
