import tf from '../tf.cjs';
import { defineKernel } from '../host-kernels.js';
import { ProbeId } from './ids.js';
import type { NetworkProbe } from './probe.js';
import { Metric } from '../trace/metrics.js';

/** [loss, share of samples whose arg-max output is the label]; output is `[classes, batch]`. */
const stats = defineKernel<Record<string, never>>({
  name: 'ProbeLoss',
  inputs: ['loss', 'output', 'labels'],
  host([loss, out, labels], _, [, [classes, batch]]) {
    let hits = 0;
    for (let s = 0; s < batch; s++) {
      let best = -Infinity, arg = 0;
      for (let c = 0; c < classes; c++) { const v = out[c * batch + s]; if (v > best) { best = v; arg = c; } }
      if (arg === labels[s]) hits++;
    }
    return [loss[0], hits / batch];
  },
  device([loss, out, labels]) {
    return tf.stack([tf.reshape(loss, []), tf.mean(tf.cast(tf.equal(tf.argMax(out, 0), labels), 'float32'))]) as tf.Tensor1D;
  },
  tensorflow(r, { loss, output, labels }) {
    const arg = r.one('ArgMax', [output, r.constant([0], 'int32')], [{ name: 'T', type: r.b.TF_ATTR_TYPE, value: r.b.TF_FLOAT }, { name: 'Tidx', type: r.b.TF_ATTR_TYPE, value: r.b.TF_INT32 }, { name: 'output_type', type: r.b.TF_ATTR_TYPE, value: r.b.TF_INT32 }]);
    const hit = r.one('Equal', [arg, labels], [{ name: 'T', type: r.b.TF_ATTR_TYPE, value: r.b.TF_INT32 }]);
    const l = r.one('Reshape', [loss, r.constant([], 'int32', [0])], [{ name: 'T', type: r.b.TF_ATTR_TYPE, value: r.b.TF_FLOAT }, { name: 'Tshape', type: r.b.TF_ATTR_TYPE, value: r.b.TF_INT32 }]);
    return [r.pack([l, r.reduce('Mean', r.toFloat(hit))])];
  },
});

/** The step's mean cross-entropy and the batch accuracy (arg-max of the output layer, first on ties). */
export const loss: NetworkProbe = {
  id: ProbeId.loss,
  scope: 'network',
  kernels: stats.configs,
  description: "the step's loss and batch accuracy, every step",
  // every step whatever --every says: two values, and the training curve a reader expects
  schedule: () => true,
  metrics() {
    return [Metric.loss, Metric.accuracy];
  },
  compute({ network: { loss, output, labels } }) {
    return stats.eager([loss, output, labels], {});
  },
};
