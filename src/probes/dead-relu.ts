import tf from '../tf.cjs';
import { canDie, specOf } from '../activations/index.js';
import { defineKernel } from '../host-kernels.js';
import { ProbeId } from './ids.js';
import type { LayerInfo, LayerProbe } from './probe.js';
import { activeUnitMetric, Metric } from '../trace/metrics.js';

/**
 * One pass over z `[units, batch]`: [inactive_frac, dead_units, dead_rows, (active share per unit)…].
 * An entry is inactive if z ≤ at and active if z > at; a NaN (a diverged network) is neither, so it
 * never makes a unit or a sample look dead.
 */
const stats = defineKernel<{ perUnit: boolean; at: number }>({
  name: 'ProbeDeadRelu',
  inputs: ['z'],
  host([z], { perUnit, at }, [[units, batch]]) {
    let inactive = 0, deadUnits = 0;
    const rowAlive = new Uint8Array(batch);
    const share: number[] = [];
    for (let u = 0; u < units; u++) {
      let active = 0, off = 0;
      const base = u * batch;
      for (let s = 0; s < batch; s++) {
        const v = z[base + s];
        if (v <= at) off++;
        else { rowAlive[s] = 1; if (v > at) active++; }
      }
      inactive += off;
      if (off === batch) deadUnits++;
      if (perUnit) share.push(active / batch);
    }
    let deadRows = 0;
    for (let s = 0; s < batch; s++) if (!rowAlive[s]) deadRows++;
    return [inactive / (units * batch), deadUnits / units, deadRows / batch, ...share];
  },
  wasm(stats, [z], { perUnit, at }, [[units, batch]], [id]) {
    const { counts, off, deadUnits } = stats.reluCounts(z, units, batch, at, id);
    let deadRows = 0;
    for (let s = 0; s < batch; s++) if (counts[units + s] === 0) deadRows++;
    const out = [off / (units * batch), deadUnits / units, deadRows / batch];
    if (perUnit) for (let u = 0; u < units; u++) out.push(counts[u] / batch);
    return out;
  },
  device([z], { perUnit, at }) {
    const inactive = tf.cast(tf.lessEqual(z, at), 'float32');
    const base = tf.stack([tf.mean(inactive), tf.mean(tf.min(inactive, 1)), tf.mean(tf.min(inactive, 0))]) as tf.Tensor1D;
    return perUnit ? tf.concat([base, tf.mean(tf.cast(tf.greater(z, at), 'float32'), 1) as tf.Tensor1D]) : base;
  },
  tensorflow(r, { z }, { perUnit, at }) {
    const inactive = r.mask('LessEqual', z, r.f(at));
    const base = r.pack([r.reduce('Mean', inactive), r.reduce('Mean', r.reduce('Min', inactive, [1])), r.reduce('Mean', r.reduce('Min', inactive, [0]))]);
    // active is z > at, not 1 − inactive: a NaN entry is neither (as in the host and composite kernels)
    return [perUnit ? r.concat([base, r.reduce('Mean', r.mask('Greater', z, r.f(at)), [1])]) : base];
  },
});

/** Where the layer's activation has an exactly zero derivative (z ≤ at), or null when it cannot die. */
export function deathAt(layer: Pick<LayerInfo, 'activation'>): number | null {
  const spec = specOf(layer.activation);
  return spec && canDie(spec) ? spec.death.zAtMost : null;
}

/**
 * Inactive units of activations that can die (their spec in src/activations says where: for
 * ReLU z ≤ 0), at three grains (H1 is about the output layer's):
 * - `inactive_frac`: share of (unit, sample) entries with z ≤ 0;
 * - `dead_units`: share of units inactive for every sample of the batch;
 * - `dead_rows`: share of samples for which every unit of the layer is inactive — on the output
 *   layer all logits are then 0 and the prediction is uniform.
 * In a convolution a channel is a unit and the entries are (channel, sample) pairs, inactive when
 * z ≤ 0 at every position of the sample.
 * Layers with at most `perUnitMax` units also record `active_u{k}`: the share of samples for
 * which unit k is active, from which the report finds when each unit died.
 */
export const deadRelu: LayerProbe = {
  id: ProbeId.deadRelu,
  scope: 'layer',
  reads: ['forward'],
  kernels: stats.configs,
  description: 'share of ReLU entries, units and whole samples with z ≤ 0',
  metrics(layer, settings) {
    if (deathAt(layer) === null) return [];
    const base: string[] = [Metric.inactiveFrac, Metric.deadUnits, Metric.deadRows];
    if (layer.fanOut > settings.perUnitMax) return base;
    return [...base, ...Array.from({ length: layer.fanOut }, (_, k) => activeUnitMetric(k))];
  },
  compute({ layer, forward: { z, zUnit }, settings }) {
    // a convolution's channel is a unit: inactive on a sample iff z ≤ 0 at every position
    return stats.eager([zUnit ?? z], { perUnit: layer.fanOut <= settings.perUnitMax, at: deathAt(layer) ?? 0 });
  },
};
