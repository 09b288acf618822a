import * as tf from '@tensorflow/tfjs';
import type { NetworkProbe } from './probe.js';

/** The step's mean cross-entropy and the batch accuracy (arg-max of the output layer). */
export const loss: NetworkProbe = {
  id: 'loss',
  scope: 'network',
  description: "the step's loss and batch accuracy",
  metrics() {
    return ['loss', 'accuracy'];
  },
  compute({ network: { loss, output, labels } }) {
    // output is [classes, batch]
    const hits = tf.equal(tf.argMax(output, 0), labels);
    return tf.stack([loss, tf.mean(tf.cast(hits, 'float32'))]) as tf.Tensor1D;
  },
};
