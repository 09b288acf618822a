import * as tf from '@tensorflow/tfjs';
import { SELU_ALPHA, SELU_SCALE } from '../activations.js';
import { defineKernel } from '../train/kernels/host.js';
import type { LayerProbe } from './probe.js';

const LAMBDA_ALPHA = SELU_SCALE * SELU_ALPHA;
const KIND = { sigmoid: 0, tanh: 1, selu: 2 } as const;

const frac = (mask: tf.Tensor): tf.Scalar => tf.mean(tf.cast(mask, 'float32'));

/** One pass over a (and z for selu): [sat_frac, sat_low, sat_high, mean_deriv] or, for selu, [sat_frac, sat_low, mean_deriv]. */
const stats = defineKernel<{ kind: number; lo: number; hi: number }>({
  name: 'ProbeSaturation',
  inputs: ['a', 'z'],
  host([a, z], { kind, lo, hi }) {
    const n = a.length;
    let low = 0, high = 0, deriv = 0;
    if (kind === KIND.sigmoid) {
      for (let i = 0; i < n; i++) { const v = a[i]; if (v < lo) low++; else if (v > hi) high++; deriv += v * (1 - v); }
    } else if (kind === KIND.tanh) {
      for (let i = 0; i < n; i++) { const v = a[i]; if (v < lo) low++; else if (v > hi) high++; deriv += 1 - v * v; }
    } else {
      for (let i = 0; i < n; i++) { const v = a[i]; if (v < lo) low++; deriv += z[i] > 0 ? SELU_SCALE : v + LAMBDA_ALPHA; }
      return [low / n, low / n, deriv / n];
    }
    return [(low + high) / n, low / n, high / n, deriv / n];
  },
  device([a, z], { kind, lo, hi }) {
    const low = frac(tf.less(a, lo));
    if (kind === KIND.selu) {
      const pos = tf.step(z);
      const neg = tf.add(a, LAMBDA_ALPHA);
      return tf.stack([low, low, tf.mean(tf.add(neg, tf.mul(pos, tf.sub(SELU_SCALE, neg))))]) as tf.Tensor1D;
    }
    const high = frac(tf.greater(a, hi));
    const deriv = kind === KIND.sigmoid ? tf.mean(tf.mul(a, tf.sub(1, a))) : tf.mean(tf.sub(1, tf.square(a)));
    return tf.stack([tf.add(low, high), low, high, deriv]) as tf.Tensor1D;
  },
});

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
  kernels: stats.configs,
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
      case 'sigmoid': return stats([a, z], { kind: KIND.sigmoid, lo: s.sigmoidLow, hi: s.sigmoidHigh });
      case 'tanh': return stats([a, z], { kind: KIND.tanh, lo: -s.tanhSat, hi: s.tanhSat });
      case 'selu': return stats([a, z], { kind: KIND.selu, lo: -s.seluSat * LAMBDA_ALPHA, hi: Infinity });
      default: throw new Error(`saturation does not apply to ${layer.activation}`);
    }
  },
};
