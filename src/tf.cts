/**
 * TensorFlow.js, loaded with `require`. Its packages are CommonJS: an ESM `import` of them makes
 * Node scan every file of the package graph for its named exports (cjs-module-lexer) before
 * running it, 255–290 ms of a `probe run` process against 105–120 ms for the same modules
 * required (measured here, alternated, 3 rounds). The same module instances either way (an ESM
 * import of a CommonJS module goes through require's cache), so a user's own
 * `import * as tf from '@tensorflow/tfjs'` shares tfjs's engine, backends and kernels with probe.
 */
import tf = require('@tensorflow/tfjs');
export = tf;
