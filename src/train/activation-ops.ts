import tf from '../tf.cjs';
import { activationSpec, type TrainedActivation } from '../activations/index.js';

/** a = f(z), as the activation's spec (src/activations) defines it. */
export function activate(z: tf.Tensor2D, act: TrainedActivation): tf.Tensor2D {
  return activationSpec(act).forward(tf, z);
}

/** dL/dz = dL/da · a′(z), a′ as the activation's spec writes it (in terms of a where that is cheaper). */
export function backpropActivation(g: tf.Tensor2D, z: tf.Tensor2D, a: tf.Tensor2D, act: TrainedActivation): tf.Tensor2D {
  return tf.mul(g, activationSpec(act).derivative(tf, z, a));
}
