/**
 * The host-kernel helper as probes see it: a fused statistic over a tensor's memory on wasm/cpu,
 * raw TensorFlow ops on tfjs-node, a tf-op composite elsewhere, and the registry that takes their
 * configs. Probes import it from here, not from the engine's kernels (src/train/kernels, where the
 * implementation lives with the engine's own kernels), so that the measuring layer does not reach
 * into the training layer.
 */
export { concatVectors, defineKernel, hostKernelsEnabled, type HostKernel, type KernelDef } from './train/kernels/host.js';
export { RAW_DERIVATIVE } from './train/kernels/tf-raw.js';
export { registerKernels } from './train/kernels/registry.js';
