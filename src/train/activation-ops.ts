import * as tf from '@tensorflow/tfjs';
import { SELU_ALPHA, SELU_SCALE, type Activation } from '../activations.js';

export function activate(z: tf.Tensor2D, act: Activation): tf.Tensor2D {
  switch (act) {
    case 'relu': return tf.relu(z);
    case 'sigmoid': return tf.sigmoid(z);
    case 'tanh': return tf.tanh(z);
    case 'selu': return tf.selu(z);
  }
}

/**
 * dL/dz = dL/da · a'(z), with a' written in terms of the output where that is cheaper:
 * σ' = a(1 − a), tanh' = 1 − a², selu' = λ for z > 0 else a + λα. relu' is 0 at z = 0, as in PyTorch.
 */
export function backpropActivation(g: tf.Tensor2D, z: tf.Tensor2D, a: tf.Tensor2D, act: Activation): tf.Tensor2D {
  switch (act) {
    case 'relu': return tf.mul(g, tf.step(z));
    case 'sigmoid': return tf.mul(g, tf.mul(a, tf.sub(1, a)));
    case 'tanh': return tf.mul(g, tf.sub(1, tf.square(a)));
    case 'selu': {
      const pos = tf.step(z);
      const neg = tf.add(a, SELU_SCALE * SELU_ALPHA);
      // pos·λ + (1 − pos)·(a + λα)
      return tf.mul(g, tf.add(neg, tf.mul(pos, tf.sub(SELU_SCALE, neg))));
    }
  }
}
