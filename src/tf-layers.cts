/**
 * TensorFlow.js's whole bundle (`@tensorflow/tfjs`: core, layers, converter, data), for the code
 * that reads, builds or trains layers models: `attachProbes` on a user's model, `probe run
 * model.json`. The engine and the probes use tf.cts (the core only; why there).
 */
import tf = require('@tensorflow/tfjs');
export = tf;
