import * as tf from '@tensorflow/tfjs';
import type { LayerProbe } from './probe.js';

const norm = (t: tf.Tensor): tf.Scalar => tf.sqrt(tf.sum<tf.Scalar>(tf.square(t)));
const maxAbs = (t: tf.Tensor): tf.Scalar => tf.max(tf.abs(t));

/**
 * Size of the backward signal in each layer: L2 norm and largest magnitude of dL/dW, dL/db and
 * dL/dz (the loss is the batch mean), and `update_ratio` = ‖ΔW‖ / ‖W‖, the relative size of the
 * step the optimizer took on the weights (ΔW = lr · velocity for SGD with momentum).
 */
export const gradients: LayerProbe = {
  id: 'gradients',
  scope: 'layer',
  description: 'L2 norm and max |·| of dL/dW, dL/db, dL/dz; update-to-weight norm ratio',
  metrics() {
    return ['w_grad_norm', 'w_grad_max', 'b_grad_norm', 'b_grad_max', 'z_grad_norm', 'z_grad_max', 'update_ratio'];
  },
  compute({ backward: { dW, db, dz }, update: { w, velocityW, lr } }) {
    const ratio = tf.div(tf.mul(norm(velocityW), lr), norm(w));
    return tf.stack([norm(dW), maxAbs(dW), norm(db), maxAbs(db), norm(dz), maxAbs(dz), ratio]) as tf.Tensor1D;
  },
};
