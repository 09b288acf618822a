/**
 * The loss and its gradient at the output, in one host pass over the `[classes, batch]` output
 * (no transposes): loss = −mean log softmax(a)[label], dL/da = (softmax(a) − onehot) / batch.
 * Computed in float64, stored as float32. Elsewhere: tf ops (log-softmax on the transposed output).
 */
import tf from '../../tf.cjs';
import { alloc, hostKernelsEnabled, view, HOST_BACKENDS } from './host.js';

const NAME = 'ProbeSoftmaxXent';

/** Kernel configs for tfjs's registry (listed in kernels/registry.ts). */
export const softmaxXentKernels: tf.KernelConfig[] = HOST_BACKENDS.map((backendName) => ({
    kernelName: NAME,
    backendName,
    kernelFunc: ({ inputs, backend }) => {
      const a = inputs.output as tf.TensorInfo, labels = inputs.labels as tf.TensorInfo;
      const [C, B] = a.shape;
      const lossInfo = alloc(backend, [1]), gInfo = alloc(backend, [C, B]);
      // views after the allocations (they may grow the wasm memory and detach earlier views)
      const x = view(backend, a), y = view(backend, labels);
      const loss = { data: view(backend, lossInfo) }, g = { data: view(backend, gInfo) };
      let total = 0;
      for (let s = 0; s < B; s++) {
        let max = -Infinity;
        for (let c = 0; c < C; c++) max = Math.max(max, x[c * B + s]);
        let sum = 0;
        for (let c = 0; c < C; c++) sum += Math.exp(x[c * B + s] - max);
        const lse = max + Math.log(sum);
        total += lse - x[y[s] * B + s];
        for (let c = 0; c < C; c++) g.data[c * B + s] = (Math.exp(x[c * B + s] - lse) - (c === y[s] ? 1 : 0)) / B;
      }
      loss.data[0] = total / B;
      return [lossInfo, gInfo];
    },
}));

/** `output` is `[classes, batch]`, `labels` `[batch]` int32, `onehot` `[batch, classes]`. */
export function softmaxCrossEntropy(out: tf.Tensor2D, labels: tf.Tensor1D, onehot: tf.Tensor2D): { loss: tf.Scalar; grad: tf.Tensor2D } {
  if (hostKernelsEnabled()) {
    const [loss, grad] = tf.engine().runKernel(NAME, { output: out, labels }, {}) as tf.Tensor[];
    return { loss: tf.reshape(loss, []) as tf.Scalar, grad: grad as tf.Tensor2D };
  }
  const logp = tf.logSoftmax(tf.transpose(out)) as tf.Tensor2D;
  const loss = tf.neg(tf.mean(tf.sum(tf.mul(onehot, logp), 1))) as tf.Scalar;
  const grad = tf.transpose(tf.div(tf.sub(tf.exp(logp), onehot), out.shape[1])) as tf.Tensor2D;
  return { loss, grad };
}
