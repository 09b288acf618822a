import { defineActivation } from './spec.js';

const sig = (z: number) => 1 / (1 + Math.exp(-z));

/** z·σ(z) (tfjs 'swish', PyTorch nn.SiLU). */
export const swish = defineActivation({
  name: 'swish',
  formula: 'z · σ(z)',
  f: (z) => z * sig(z),
  df: (z) => { const s = sig(z); return s + z * s * (1 - s); },
  meanDf(z) {
    let t = 0;
    for (let i = 0; i < z.length; i++) { const s = 1 / (1 + Math.exp(-z[i])); t += s + z[i] * s * (1 - s); }
    return t / z.length;
  },
  forward: (tf, z) => tf.mul(z, tf.sigmoid(z)),
  derivative: (tf, z) => { const s = tf.sigmoid(z); return tf.add(s, tf.mul(z, tf.mul(s, tf.sub(1, s)))); },
  saturation: { cannot: 'unbounded above; below 0 its derivative tends to 0 only as z → −∞' },
  death: { cannot: 'its derivative is exactly 0 at no finite z but one point (z ≈ −1.28)' },
});
