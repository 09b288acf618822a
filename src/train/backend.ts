import * as tf from '@tensorflow/tfjs';
import { ProbeError, ErrorCode } from '../errors.js';
import { msg } from '../messages.js';

/** What the user may ask for; `auto` tries tfjs-node, then wasm, then the pure-JS cpu backend. */
export const BackendChoice = { auto: 'auto', node: 'node', wasm: 'wasm', cpu: 'cpu' } as const;
export type BackendChoice = (typeof BackendChoice)[keyof typeof BackendChoice];
export type BackendName = Exclude<BackendChoice, 'auto'>;

export function isBackendChoice(s: string): s is BackendChoice {
  return Object.prototype.hasOwnProperty.call(BackendChoice, s);
}

/** tfjs registers each backend under its own name. */
const TFJS_NAME: Record<BackendName, string> = { node: 'tensorflow', wasm: 'wasm', cpu: 'cpu' };

async function load(name: BackendName): Promise<string | null> {
  try {
    if (name === 'node') {
      // A variable, so TypeScript compiles when the optional package is absent.
      const pkg = '@tensorflow/tfjs-node';
      // TensorFlow logs an INFO banner about CPU features on load; we already say which backend runs.
      process.env.TF_CPP_MIN_LOG_LEVEL ??= '1';
      await import(pkg as string);
    } else if (name === 'wasm') {
      await import('@tensorflow/tfjs-backend-wasm');
    }
    if (!(await tf.setBackend(TFJS_NAME[name]))) return 'tfjs could not initialize it';
    await tf.ready();
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
}

/** Selects and initializes a tfjs backend; asking for an unavailable one is an error. */
export async function selectBackend(choice: BackendChoice): Promise<BackendInfo> {
  if (choice !== 'auto') {
    const why = await load(choice);
    if (why) throw new ProbeError(ErrorCode.backend, msg.backendUnavailable(choice, why));
    return { name: choice, skipped: [] };
  }
  const skipped: { name: BackendName; why: string }[] = [];
  for (const name of ['node', 'wasm', 'cpu'] as const) {
    const why = await load(name);
    if (!why) return { name, skipped };
    skipped.push({ name, why });
  }
  throw new ProbeError(ErrorCode.backend, msg.backendUnavailable('auto', skipped.map((s) => `${s.name}: ${s.why}`).join('; ')));
}
