/**
 * Every kernel probe adds to tfjs, in one list (as tfjs lists a backend's kernels in one file),
 * registered once when a backend is selected. Modules define kernel configs; none registers on
 * import.
 */
import * as tf from '@tensorflow/tfjs';
import { attachKernels } from '../../attach/moments.js';
import { PROBES } from '../../probes/registry.js';
import { fusedKernels } from './fused.js';
import { concatKernels } from './host.js';
import { productKernels } from './products.js';
import { sgdKernels } from './sgd.js';
import { softmaxXentKernels } from './softmax-xent.js';

export const KERNELS: readonly tf.KernelConfig[] = [
  ...sgdKernels,
  ...softmaxXentKernels,
  ...concatKernels,
  ...productKernels,
  ...fusedKernels,
  ...attachKernels,
  ...PROBES.flatMap((p) => p.kernels ?? []),
];

let registered = false;

/** Registers {@link KERNELS} with tfjs (once; later calls do nothing). */
export function registerKernels(): void {
  if (registered) return;
  for (const k of KERNELS) tf.registerKernel(k);
  registered = true;
}
