import tf from '../tf.cjs';
import { defineKernel } from '../host-kernels.js';
import { unitMetric } from '../trace/metrics.js';
import { deathAt } from './dead-relu.js';
import { ProbeId } from './ids.js';
import type { LayerProbe } from './probe.js';

/** One pass over z `[units, batch]`: per unit, the share of samples with z > at. */
const shares = defineKernel<{ at: number }>({
  name: 'ProbeUnitActivity',
  inputs: ['z'],
  host([z], { at }, [[units, batch]]) {
    const out = new Float32Array(units);
    for (let u = 0; u < units; u++) {
      let active = 0;
      const base = u * batch;
      for (let s = 0; s < batch; s++) if (z[base + s] > at) active++;
      out[u] = active / batch;
    }
    return out;
  },
  wasm(stats, [z], { at }, [[units, batch]], [id]) {
    const { counts } = stats.reluCounts(z, units, batch, at, id);
    const out: number[] = [];
    for (let u = 0; u < units; u++) out.push(counts[u] / batch);
    return out;
  },
  device([z], { at }) {
    return tf.mean(tf.cast(tf.greater(z, at), 'float32'), 1) as tf.Tensor1D;
  },
  tensorflow(r, { z }, { at }) {
    return [r.reduce('Mean', r.mask('Greater', z, r.f(at)), [1])];
  },
});

/**
 * Per-unit activity of every layer whose activation can die (ReLU; its spec says where),
 * whatever its width, on every step: the share of samples for which each
 * unit has z > 0. Its values are not written per step: the run averages them over windows of
 * steps (study.ts: UNIT_WINDOWS_PER_EPOCH per epoch) and writes one row per unit and window, from
 * which the report dates each unit's death.
 */
export const unitActivity: LayerProbe = {
  id: ProbeId.unitActivity,
  scope: 'layer',
  reads: ['forward'],
  window: true,
  // every step whatever --every says: a unit is dead only if no training input woke it, and the
  // windows cost one row per unit each whatever the steps they average
  schedule: () => true,
  kernels: shares.configs,
  description: 'per-unit share of samples with z > 0 in ReLU layers, averaged over windows of steps',
  metrics(layer) {
    return deathAt(layer) !== null ? Array.from({ length: layer.fanOut }, (_, k) => unitMetric(k)) : [];
  },
  compute({ layer, forward: { z } }) {
    return shares.eager([z], { at: deathAt(layer) ?? 0 });
  },
};
