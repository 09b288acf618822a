/**
 * tfjs's kernel registry as probe feeds it. Like tfjs's own, it knows no kernel: each layer lists
 * its own and registers them when it runs — the engine's with the backend (engine-kernels.ts, from
 * backend.ts; tensorflow.ts's with tfjs-node), the probes' with the ProbeHost that runs them, the
 * attach path's with its session. Nothing registers on import.
 */
import tf from '../../tf.cjs';

const registered = new Set<string>();

/** Registers each config with tfjs, once per kernel and backend (later calls skip it). */
export function registerKernels(kernels: readonly tf.KernelConfig[]): void {
  for (const k of kernels) {
    const key = `${k.backendName}/${k.kernelName}`;
    if (registered.has(key)) continue;
    tf.registerKernel(k);
    registered.add(key);
  }
}
