import { defineActivation } from './spec.js';

/** α = 1, the default of tfjs's 'elu' and PyTorch's nn.ELU. */
export const elu = defineActivation({
  name: 'elu',
  formula: 'z for z > 0, e^z − 1 otherwise',
  f: (z) => (z > 0 ? z : Math.expm1(z)),
  df: (z, a) => (z > 0 ? 1 : a + 1),
  meanDf(z, a) {
    let s = 0;
    for (let i = 0; i < a.length; i++) s += z[i] > 0 ? 1 : a[i] + 1;
    return s / a.length;
  },
  forward: (tf, z) => tf.elu(z),
  derivative: (tf, z, a) => {
    const pos = tf.step(z);
    const neg = tf.add(a, 1);
    return tf.add(neg, tf.mul(pos, tf.sub(1, neg)));
  },
  // like selu: saturated near its floor −α, measured as a share of it
  saturation: { low: (s) => -s.seluSat, high: null, setting: '--selu-sat (shared with selu)' },
  death: { cannot: 'its derivative e^z is never exactly 0' },
});
