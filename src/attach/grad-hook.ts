import tf from '../tf.cjs';

/**
 * An identity whose gradient is handed to `sink` on its way back: the equivalent of PyTorch's
 * `tensor.register_hook`. Placed between a layer's pre-activation and its activation, it sees
 * dL/dz — which the optimizer never receives — without changing any value or gradient.
 * `sink` must copy what it keeps (`tf.keep(tf.clone(dy))`): the backward pass disposes dy.
 */
export function gradientTap(sink: (dy: tf.Tensor) => void): (z: tf.Tensor) => tf.Tensor {
  const f = tf.customGrad(((z: tf.Tensor) => ({
    value: tf.clone(z),
    gradFunc: (dy: tf.Tensor) => {
      sink(dy);
      return tf.clone(dy);
    },
  })) as unknown as Parameters<typeof tf.customGrad>[0]);
  return (z) => f(z);
}
