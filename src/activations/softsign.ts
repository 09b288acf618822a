import type tfjs from '../tf.cjs';
import { defineActivation } from './spec.js';

export const softsign = defineActivation({
  name: 'softsign',
  formula: 'z / (1 + |z|)',
  f: (z) => z / (1 + Math.abs(z)),
  df: (_z, a) => (1 - Math.abs(a)) ** 2,
  meanDf(_z, a) {
    let s = 0;
    for (let i = 0; i < a.length; i++) { const v = 1 - Math.abs(a[i]); s += v * v; }
    return s / a.length;
  },
  forward: (tf, z) => tf.div(z, tf.add(1, tf.abs(z))) as tfjs.Tensor2D,
  derivative: (tf, _z, a) => tf.square(tf.sub(1, tf.abs(a))) as tfjs.Tensor2D,
  // bounded by ±1 like tanh, but approaches them polynomially: a = 0.99 needs z = 99
  saturation: { low: (s) => -s.tanhSat, high: (s) => s.tanhSat, setting: '--tanh-sat (shared with tanh)' },
  death: { cannot: 'its derivative (1 − |a|)² is never exactly 0' },
});
