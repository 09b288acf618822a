import * as tf from '@tensorflow/tfjs';
import type { LayerProbe } from './probe.js';

/**
 * Inactive ReLUs, at three grains (H1 is about the output layer's):
 * - `inactive_frac`: share of (unit, sample) entries with z ≤ 0;
 * - `dead_units`: share of units inactive for every sample of the batch;
 * - `dead_rows`: share of samples for which every unit of the layer is inactive — on the output
 *   layer all logits are then 0 and the prediction is uniform.
 * Layers with at most `perUnitMax` units also record `active_u{k}`: the share of samples for
 * which unit k is active, from which the report finds when each unit died.
 */
export const deadRelu: LayerProbe = {
  id: 'dead-relu',
  scope: 'layer',
  description: 'share of ReLU entries, units and whole samples with z ≤ 0',
  metrics(layer, settings) {
    if (layer.activation !== 'relu') return [];
    const base = ['inactive_frac', 'dead_units', 'dead_rows'];
    if (layer.fanOut > settings.perUnitMax) return base;
    return [...base, ...Array.from({ length: layer.fanOut }, (_, k) => `active_u${k}`)];
  },
  compute({ layer, forward: { z }, settings }) {
    // z is [units, batch]
    const inactive = tf.cast(tf.lessEqual(z, 0), 'float32');
    const parts: tf.Tensor1D[] = [
      tf.stack([tf.mean(inactive), tf.mean(tf.min(inactive, 1)), tf.mean(tf.min(inactive, 0))]) as tf.Tensor1D,
    ];
    if (layer.fanOut <= settings.perUnitMax) parts.push(tf.sub(1, tf.mean(inactive, 1)) as tf.Tensor1D);
    return parts.length === 1 ? parts[0] : tf.concat(parts);
  },
};
