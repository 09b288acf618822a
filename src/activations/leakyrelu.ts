import { defineActivation } from './spec.js';

/** PyTorch's nn.LeakyReLU default slope; tfjs's LeakyReLU layer defaults to 0.3 (probes need neither). */
export const LEAKY_ALPHA = 0.01;

export const leakyrelu = defineActivation({
  name: 'leakyrelu',
  formula: `z for z > 0, ${LEAKY_ALPHA}·z otherwise`,
  kinks: [0],
  f: (z) => (z > 0 ? z : LEAKY_ALPHA * z),
  df: (z) => (z > 0 ? 1 : LEAKY_ALPHA),
  meanDf(z) {
    let s = 0;
    for (let i = 0; i < z.length; i++) s += z[i] > 0 ? 1 : LEAKY_ALPHA;
    return s / z.length;
  },
  forward: (tf, z) => tf.leakyRelu(z, LEAKY_ALPHA),
  derivative: (tf, z) => tf.add(LEAKY_ALPHA, tf.mul(1 - LEAKY_ALPHA, tf.step(z))),
  saturation: { cannot: 'unbounded above, and below 0 the gradient still flows with slope α' },
  death: { cannot: 'below 0 its derivative is α > 0: a leaky unit keeps learning' },
});
