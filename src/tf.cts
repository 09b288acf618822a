/**
 * TensorFlow.js's core (ops, engine, kernel registry) and its CPU backend, loaded with `require`.
 *
 * - `require`, not `import`: tfjs's packages are CommonJS, and an ESM `import` of them makes Node
 *   scan every file of the package graph for its named exports (cjs-module-lexer) before running
 *   it: 255–290 ms of a `probe run` process against 105–120 ms for the same modules required
 *   (measured here, alternated, 3 rounds).
 * - The core, not the `@tensorflow/tfjs` bundle: the engine and the probes need ops only. The
 *   bundle also loads layers, the converter, tfjs-data and the WebGL backend: 109–174 ms to require
 *   with the wasm backend, against 39–59 ms for core + cpu + wasm (3 rounds). A trained model's
 *   layers API lives in tf-layers.cts, loaded only by the code that reads or builds layers models.
 * - The same module instances either way (an ESM import of a CommonJS module goes through
 *   require's cache, and the bundle re-exports this core), so a user's own
 *   `import * as tf from '@tensorflow/tfjs'` shares tfjs's engine, backends and kernels with probe.
 */
import tf = require('@tensorflow/tfjs-core');
// The backend of last resort (backend chain: tfjs-node → wasm → cpu) registers itself on load.
import '@tensorflow/tfjs-backend-cpu';
export = tf;
