import { createRequire } from 'node:module';
import tf from '../tf.cjs';
import { ProbeError, ErrorCode } from '../errors.js';
import { msg } from '../messages.js';
import { cachedCalibration, calibrate, fastest, type AnyWorkload, type Calibration } from './calibrate.js';
import { ENGINE_KERNELS } from './kernels/engine-kernels.js';
import { alignTensorMemory, FUSED_BACKENDS } from './kernels/host.js';
import { registerKernels } from './kernels/registry.js';
import { packageVersion } from '../versions.js';
import { applyTfjsNodeEnv } from './tfjs-node-env.js';
import { withoutAddedHandlers } from './quiet.js';

import type { BackendChoice, BackendName } from './choices.js';

export { BackendChoice, isBackendChoice, type BackendName } from './choices.js';

/** tfjs registers each backend under its own name. */
const TFJS_NAME: Record<BackendName, string> = { node: 'tensorflow', wasm: 'wasm', cpu: 'cpu' };

/** tfjs's packages are CommonJS: required, not imported (why: tf.cts). */
const require = createRequire(import.meta.url);

async function load(name: BackendName): Promise<string | null> {
  try {
    if (name === 'node') {
      // A variable, so TypeScript compiles when the optional package is absent.
      const pkg = '@tensorflow/tfjs-node';
      // threads and logging, read once when the binding loads (tfjs-node-env.ts)
      applyTfjsNodeEnv();
      require(pkg);
      // the fused kernels as TensorFlow op chains, bypassing tfjs's per-op overhead
      registerKernels((await import('./kernels/tensorflow.js')).tensorflowKernels);
      FUSED_BACKENDS.add('tensorflow');
    } else if (name === 'wasm') {
      require('@tensorflow/tfjs-backend-wasm');
    }
    // the wasm module, once instantiated, would rethrow every error of the process (quiet.ts)
    const ok = await withoutAddedHandlers(async () => (await tf.setBackend(TFJS_NAME[name])) && (await tf.ready(), true));
    if (!ok) return 'tfjs could not initialize it';
    registerKernels(ENGINE_KERNELS);
    // the products read rows in 64-byte groups: tensors on cache lines (host.ts)
    if (name === 'wasm') alignTensorMemory(tf.backend());
    // The cpu backend prints an install-tfjs-node banner on first use; we already said which
    // backend runs and why.
    if (name === 'cpu') (tf.backend() as unknown as { firstUse: boolean }).firstUse = false;
    return null;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      return name === 'node' ? '@tensorflow/tfjs-node is not installed; its install needs internet' : 'package not installed';
    }
    return (e as Error).message.split('\n')[0];
  }
}

export interface BackendInfo {
  readonly name: BackendName;
  /** why each backend tried before it was skipped */
  readonly skipped: readonly { readonly name: BackendName; readonly why: string }[];
  /** under `auto` with more than one fast backend: the timings the choice was made on */
  readonly calibration?: Calibration;
}

/**
 * Selects and initializes a tfjs backend; asking for an unavailable one is an error.
 * `auto` loads tfjs-node and wasm; when both load and the run's `workload` is given, it times
 * the step on each and takes the faster (see calibrate.ts), else the first that loads. The pure-JS
 * cpu backend, ~5× slower than wasm on this step, is the last resort.
 */
export async function selectBackend(choice: BackendChoice, workload?: AnyWorkload): Promise<BackendInfo> {
  if (choice !== 'auto') {
    const why = await load(choice);
    if (why) throw new ProbeError(ErrorCode.backend, msg.backendUnavailable(choice, why));
    return { name: choice, skipped: [] };
  }
  const skipped: { name: BackendName; why: string }[] = [];
  const ms = (c: Calibration, b: BackendName) => `${c.msPerStep[b]!.toFixed(2)} ms/step`;
  // Timed before on this machine, software and workload: load only the winner.
  const known = workload && packageVersion('@tensorflow/tfjs-node') !== null ? cachedCalibration(workload, ['node', 'wasm']) : null;
  if (known) {
    const name = fastest(known.msPerStep, ['node', 'wasm']), other = name === 'node' ? 'wasm' : 'node';
    if ((await load(name)) === null) {
      const why = Number.isFinite(known.msPerStep[other]!) ? `slower here: ${ms(known, other)} vs ${ms(known, name)}` : 'cannot train this workload (a kernel is missing)';
      return { name, skipped: [{ name: other, why: `${why}, timed on ${known.measuredAt.slice(0, 16)}Z` }], calibration: known };
    }
    // the winner no longer loads: choose as if nothing were known
  }
  const loaded: BackendName[] = [];
  for (const name of ['node', 'wasm'] as const) {
    const why = await load(name);
    if (why) skipped.push({ name, why });
    else loaded.push(name);
  }
  if (loaded.length === 2 && workload) {
    const use = async (b: BackendName) => { await tf.setBackend(TFJS_NAME[b]); };
    const calibration = await calibrate(workload, loaded, use);
    const name = fastest(calibration.msPerStep, loaded);
    await use(name);
    for (const b of loaded) if (b !== name) skipped.push({ name: b, why: !Number.isFinite(calibration.msPerStep[b]!) ? 'cannot train this model (a kernel is missing)' : `slower here: ${ms(calibration, b)} vs ${ms(calibration, name)}, timed ${calibration.cached ? `on ${calibration.measuredAt.slice(0, 16)}Z` : 'now'}` });
    return { name, skipped, calibration };
  }
  if (loaded.length > 0) {
    // load() left tfjs on the last backend it initialized
    await tf.setBackend(TFJS_NAME[loaded[0]]);
    return { name: loaded[0], skipped };
  }
  const why = await load('cpu');
  if (!why) return { name: 'cpu', skipped };
  skipped.push({ name: 'cpu', why });
  throw new ProbeError(ErrorCode.backend, msg.backendUnavailable('auto', skipped.map((s) => `${s.name}: ${s.why}`).join('; ')));
}
