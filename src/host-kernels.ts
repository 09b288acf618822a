/**
 * The host-kernel helper as probes see it: a fused statistic over a tensor's memory on wasm/cpu,
 * with a tf-op composite elsewhere. Probes import it from here, not from the engine's kernels
 * (src/train/kernels, where the implementation lives with the engine's own kernels), so that the
 * measuring layer does not reach into the training layer.
 */
export { concatVectors, defineKernel, hostKernelsEnabled, type HostKernel, type KernelDef } from './train/kernels/host.js';
