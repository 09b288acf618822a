import * as tf from '@tensorflow/tfjs';
import { SELU_ALPHA, SELU_SCALE } from '../activations.js';
import type { LayerProbe } from './probe.js';

const frac = (mask: tf.Tensor): tf.Scalar => tf.mean(tf.cast(mask, 'float32'));

/**
 * How much of a bounded activation sits at its extremes, and the mean local derivative there —
 * the factor by which the layer scales the gradient flowing back through it (H2).
 * - sigmoid: low a < sigmoidLow, high a > sigmoidHigh, σ' = a(1 − a)
 * - tanh: low a < −tanhSat, high a > tanhSat, tanh' = 1 − a²
 * - selu: low a < −seluSat·λα (its negative asymptote), selu' = λ if z > 0 else a + λα
 */
export const saturation: LayerProbe = {
  id: 'saturation',
  scope: 'layer',
  description: 'share of sigmoid/tanh/selu outputs at their extremes, and the mean local derivative',
  metrics(layer) {
    switch (layer.activation) {
      case 'sigmoid':
      case 'tanh':
        return ['sat_frac', 'sat_low', 'sat_high', 'mean_deriv'];
      case 'selu':
        return ['sat_frac', 'sat_low', 'mean_deriv'];
      default:
        return [];
    }
  },
  compute({ layer, forward: { a, z }, settings: s }) {
    switch (layer.activation) {
      case 'sigmoid': {
        const low = frac(tf.less(a, s.sigmoidLow));
        const high = frac(tf.greater(a, s.sigmoidHigh));
        return tf.stack([tf.add(low, high), low, high, tf.mean(tf.mul(a, tf.sub(1, a)))]) as tf.Tensor1D;
      }
      case 'tanh': {
        const low = frac(tf.less(a, -s.tanhSat));
        const high = frac(tf.greater(a, s.tanhSat));
        return tf.stack([tf.add(low, high), low, high, tf.mean(tf.sub(1, tf.square(a)))]) as tf.Tensor1D;
      }
      case 'selu': {
        const low = frac(tf.less(a, -s.seluSat * SELU_SCALE * SELU_ALPHA));
        const pos = tf.step(z);
        const neg = tf.add(a, SELU_SCALE * SELU_ALPHA);
        const deriv = tf.mean(tf.add(neg, tf.mul(pos, tf.sub(SELU_SCALE, neg))));
        return tf.stack([low, low, deriv]) as tf.Tensor1D;
      }
      default:
        throw new Error(`saturation does not apply to ${layer.activation}`);
    }
  },
};
