/**
 * What tfjs does to a host program that probe must undo, since probe runs inside its users'
 * programs: the cpu backend prints an install-tfjs-node banner on its first tensor, and the
 * wasm backend's Emscripten module adds process-wide `uncaughtException` and
 * `unhandledRejection` handlers that rethrow — any error of the program then surfaces as
 * `tf-backend-wasm.node.js: throw ex` with exit code 7 (Node's "internal exception handler
 * failed") instead of the error itself and Node's own exit code.
 */
import tf from '../tf.cjs';

const EVENTS = ['uncaughtException', 'unhandledRejection'] as const;
type Handler = (...args: unknown[]) => void;
// process.listeners' overloads take one event name at a time
const listeners = (e: (typeof EVENTS)[number]): Handler[] => (process.listeners as (e: string) => Handler[])(e);

/**
 * The cpu backend's banner, switched off before it prints. tfjs makes a new cpu backend each time
 * it initializes one (its engine does so again when it picks the best backend), so the factory
 * it makes them with is wrapped, and an instance already made is quieted too.
 */
export function quietCpuBanner(): void {
  type Cpu = { firstUse?: boolean };
  const engine = tf.engine() as unknown as {
    registryFactory?: Record<string, { factory: () => unknown; quiet?: boolean } | undefined>;
    registry?: Record<string, Cpu | undefined>;
  };
  const entry = engine.registryFactory?.cpu;
  if (entry && !entry.quiet) {
    const make = entry.factory;
    entry.factory = () => {
      const b = make() as Cpu;
      if (b && typeof b === 'object' && 'firstUse' in b) b.firstUse = false;
      return b;
    };
    entry.quiet = true;
  }
  const made = engine.registry?.cpu;
  if (made && 'firstUse' in made) made.firstUse = false;
}

/** Runs `init` and removes the process handlers it added (the wasm module's, when it loads). */
export async function withoutAddedHandlers<T>(init: () => Promise<T>): Promise<T> {
  const before = new Map(EVENTS.map((e) => [e, new Set(listeners(e))]));
  try {
    return await init();
  } finally {
    for (const e of EVENTS) for (const l of listeners(e)) if (!before.get(e)!.has(l)) process.removeListener(e, l);
  }
}

/**
 * The wasm module's rethrowing handlers, when the program loaded wasm itself (attachProbes):
 * recognised by their code, as Emscripten writes them.
 */
export function dropEmscriptenHandlers(): void {
  for (const e of EVENTS) {
    for (const l of listeners(e)) {
      const src = l.toString().replace(/\s+/g, ' ');
      if (/instanceof ExitStatus\)\) ?\{ ?throw ex;/.test(src) || /^function \(reason\) ?\{ ?throw reason; ?\}$/.test(src)) process.removeListener(e, l);
    }
  }
}
