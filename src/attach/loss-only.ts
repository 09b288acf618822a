import tf from '../tf.cjs';
import type { NetworkProbe } from '../probes/probe.js';
import { Metric } from '../trace/metrics.js';

/**
 * The `loss` probe for a loop whose targets the session cannot see (an uncompiled model trained
 * without `session.loss`): the step's loss only. Batch accuracy needs targets; it is left out
 * rather than recorded as a made-up number.
 */
export const lossOnly: NetworkProbe = {
  id: 'loss',
  scope: 'network',
  description: "the step's loss",
  metrics() {
    return [Metric.loss];
  },
  compute({ network: { loss } }) {
    return tf.reshape(loss, [1]) as tf.Tensor1D;
  },
};
