import tf from '../tf-layers.cjs';
import type { Activation } from '../activations/index.js';
import type { LayerParams } from '../train/model.js';

/**
 * The study's MLP as a plain `tf.sequential` with the given parameters (PyTorch layout, as
 * `initParams` draws them), compiled like probe's engine trains it: SGD with momentum and
 * cross-entropy of log-softmax over the output layer's activations. The reference model for the
 * attached-probe path: the same network, trained by tfjs-layers instead of probe's engine.
 */
export function studySequential(acts: readonly Activation[], params: readonly LayerParams[], opt: { lr: number; momentum: number }): tf.Sequential {
  const model = tf.sequential({ name: `study_${acts.join('-')}` });
  params.forEach((p, i) => {
    model.add(tf.layers.dense({ units: p.fanOut, activation: acts[i], ...(i === 0 ? { inputShape: [p.fanIn] } : {}) }));
  });
  params.forEach((p, i) => {
    // Dense keeps [fanIn, fanOut]; the engine, like PyTorch, [fanOut, fanIn]
    const k = new Float32Array(p.w.length);
    for (let o = 0; o < p.fanOut; o++) for (let j = 0; j < p.fanIn; j++) k[j * p.fanOut + o] = p.w[o * p.fanIn + j];
    model.layers[i].setWeights([tf.tensor2d(k, [p.fanIn, p.fanOut]), tf.tensor1d(p.b)]);
  });
  model.compile({
    optimizer: tf.train.momentum(opt.lr, opt.momentum),
    loss: (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.losses.softmaxCrossEntropy(yTrue, yPred),
  });
  return model;
}
