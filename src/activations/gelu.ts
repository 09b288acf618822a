import { defineActivation } from './spec.js';

/** erf in float64: its Taylor series for |x| ≤ 2, erfc's continued fraction beyond (both to ~1e-15). */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax <= 2) {
    let term = x, sum = x;
    for (let n = 1; n < 60; n++) {
      term *= (-x * x) / n;
      sum += term / (2 * n + 1);
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  let f = 0;
  for (let k = 60; k >= 1; k--) f = (k / 2) / (ax + f);
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
  return Math.sign(x) * (1 - erfc);
}

const Phi = (z: number) => 0.5 * (1 + erf(z / Math.SQRT2));
const phi = (z: number) => Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);

/** z·Φ(z) with the exact normal CDF (tfjs 'gelu'; 'gelu_new' is the tanh approximation, not this). */
export const gelu = defineActivation({
  name: 'gelu',
  formula: 'z · Φ(z)',
  f: (z) => z * Phi(z),
  df: (z) => Phi(z) + z * phi(z),
  meanDf(z) {
    let t = 0;
    for (let i = 0; i < z.length; i++) { const v = z[i]; t += 0.5 * (1 + erf(v / Math.SQRT2)) + (v * Math.exp(-0.5 * v * v)) / Math.sqrt(2 * Math.PI); }
    return t / z.length;
  },
  forward: (tf, z) => tf.mul(tf.mul(z, 0.5), tf.add(1, tf.erf(tf.div(z, Math.SQRT2)))),
  derivative: (tf, z) => tf.add(tf.mul(0.5, tf.add(1, tf.erf(tf.div(z, Math.SQRT2)))), tf.mul(z, tf.mul(1 / Math.sqrt(2 * Math.PI), tf.exp(tf.mul(-0.5, tf.square(z)))))),
  saturation: { cannot: 'unbounded above; below 0 its derivative tends to 0 only as z → −∞' },
  death: { cannot: 'its derivative is 0 at one point only (z ≈ −0.75)' },
});
