// A small convolutional net on MNIST whose head is the study's failing pair, sigmoid → ReLU,
// trained with tfjs's own model.fit while probe records dead units, saturation and gradients.
//   node examples/conv-mnist.mjs [--epochs 1] [--train-limit 6400] [--data-dir DIR] [--out runs]
//   npx probe inspect runs/conv-sigmoid-relu.arrow
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { attachProbes, loadTensors, selectBackend } from 'probe-nn';

const { values: a } = parseArgs({ options: { epochs: { type: 'string', default: '1' }, 'train-limit': { type: 'string', default: '6400' }, 'data-dir': { type: 'string' }, out: { type: 'string', default: 'runs' } } });
await selectBackend('cpu'); // tfjs-backend-wasm 4.22 has no gradient kernel for conv2d
const { xTrain, yTrain, xTest, yTest } = loadTensors({ shape: [28, 28, 1], trainLimit: Number(a['train-limit']), testLimit: 1000, dataDir: a['data-dir'] });

const model = tf.sequential({ name: 'conv-sigmoid-relu', layers: [
  tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 8, kernelSize: 5, strides: 2, activation: 'relu' }),
  tf.layers.flatten(),
  tf.layers.dense({ units: 64, activation: 'sigmoid' }),
  tf.layers.dense({ units: 10, activation: 'relu' }), // logits through a ReLU, as in the study
] });
model.compile({ optimizer: tf.train.momentum(0.01, 0.5), loss: (y, p) => tf.losses.softmaxCrossEntropy(y, p), metrics: ['accuracy'] });

const probes = attachProbes(model, { out: a.out, force: true });
await model.fit(xTrain, yTrain, { epochs: Number(a.epochs), batchSize: 32, validationData: [xTest, yTest], callbacks: [probes.callback] });
probes.close();
console.log(`trace: ${probes.path}`);
