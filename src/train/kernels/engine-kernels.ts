/**
 * The engine's own kernels for the host backends (wasm, cpu), in one list, as a tfjs backend lists
 * its kernels in one file; backend.ts registers them with the backend it selects (and
 * tensorflow.ts's with tfjs-node).
 */
import type tf from '../../tf.cjs';
import { fusedKernels } from './fused.js';
import { concatKernels } from './host.js';
import { productKernels } from './products.js';
import { sgdKernels } from './sgd.js';
import { softmaxXentKernels } from './softmax-xent.js';
import { sparseKernels } from './sparse.js';

export const ENGINE_KERNELS: readonly tf.KernelConfig[] = [...sgdKernels, ...softmaxXentKernels, ...concatKernels, ...productKernels, ...fusedKernels, ...sparseKernels];
