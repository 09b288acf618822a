import tf from '../tf.cjs';
import { defineKernel } from '../host-kernels.js';
import { QUANTILES, quantileMetric } from '../trace/metrics.js';
import { ProbeId } from './ids.js';
import { quantilesBySelection } from './select.js';
import type { LayerProbe } from './probe.js';

export { QUANTILES, quantileMetric };

/** Quantile levels as fractions, in the order of the metrics. */
const FRACTIONS = QUANTILES.map((p) => p / 100);

/**
 * Every quantile of z, then of a, over all entries of the layer (units × batch). The host kernel
 * selects the 14 order statistics per array instead of sorting it (select.ts; the same values as
 * the sort, NaN and −0 included); the device composite sorts with top-k.
 */
const stats = defineKernel<Record<string, never>>({
  name: 'ProbeDistribution',
  inputs: ['z', 'a'],
  host([z, a]) {
    return [...quantilesBySelection(z, FRACTIONS), ...quantilesBySelection(a, FRACTIONS)];
  },
  device([z, a]) {
    const parts = [z, a].map((x) => {
      const flat = tf.reshape(x, [-1]) as tf.Tensor1D;
      const n = flat.shape[0];
      const sorted = tf.reverse(tf.topk(flat, n, true).values) as tf.Tensor1D; // ascending
      const h = QUANTILES.map((p) => ((n - 1) * p) / 100);
      const lo = h.map(Math.floor), hi = lo.map((l) => Math.min(l + 1, n - 1));
      const vlo = tf.gather(sorted, tf.tensor1d(lo, 'int32')), vhi = tf.gather(sorted, tf.tensor1d(hi, 'int32'));
      return tf.add(vlo, tf.mul(tf.tensor1d(h.map((x, i) => x - lo[i])), tf.sub(vhi, vlo))) as tf.Tensor1D;
    });
    return tf.concat(parts) as tf.Tensor1D;
  },
  // TopKV2 with k = n sorts descending, so ascending rank i is position n − 1 − i
  tensorflow(r, { z, a }) {
    return [r.concat([z, a].map((x) => {
      const n = x.shape.reduce((p, q) => p * q, 1);
      const flat = r.one('Reshape', [x, r.constant([n], 'int32', [1])], [r.type('T', r.b.TF_FLOAT), r.type('Tshape', r.b.TF_INT32)]);
      const desc = r.op('TopKV2', [flat, r.constant([n], 'int32', [])], [{ name: 'sorted', type: r.b.TF_ATTR_BOOL, value: true }, r.type('T', r.b.TF_FLOAT)], 2)[0];
      const h = QUANTILES.map((p) => ((n - 1) * p) / 100);
      const lo = h.map(Math.floor), hi = lo.map((l) => Math.min(l + 1, n - 1));
      const vlo = r.gather(desc, lo.map((i) => n - 1 - i)), vhi = r.gather(desc, hi.map((i) => n - 1 - i));
      return r.one('AddV2', [vlo, r.one('Mul', [r.constant(h.map((v, i) => v - lo[i]), 'float32'), r.one('Sub', [vhi, vlo])])]);
    }))];
  },
});

/**
 * The distribution of a layer's pre-activation z and output a, as quantiles over all (unit,
 * sample) entries of the batch, on its own schedule (every `distributionEvery` steps: selecting
 * the quantiles takes a few passes per layer, more than the other probes' single pass). Drawn as
 * bands over steps, it shows what the scalar probes summarise: an output ReLU whose z drifts below 0 is dying; a sigmoid whose a
 * piles up at 0 or 1 is saturating.
 */
export const distribution: LayerProbe = {
  id: ProbeId.distribution,
  scope: 'layer',
  reads: ['forward'],
  description: 'quantiles (1, 5, 25, 50, 75, 95, 99%) of z and a per layer, every --distribution-every steps',
  schedule: (step, settings) => step % settings.distributionEvery === 0,
  kernels: stats.configs,
  metrics() {
    return [...QUANTILES.map((p) => quantileMetric('z', p)), ...QUANTILES.map((p) => quantileMetric('a', p))];
  },
  compute({ forward: { z, a } }) {
    return stats.eager([z, a], {});
  },
};
