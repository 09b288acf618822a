/**
 * The names a user may choose for how to compute, without loading tfjs: config validation and
 * `--help` need them; training needs the modules that use them (backend.ts, engine.ts).
 */

/** What the user may ask for; `auto` takes the faster of tfjs-node and wasm, else the pure-JS cpu backend. */
export const BackendChoice = { auto: 'auto', node: 'node', wasm: 'wasm', cpu: 'cpu' } as const;
export type BackendChoice = (typeof BackendChoice)[keyof typeof BackendChoice];
export type BackendName = Exclude<BackendChoice, 'auto'>;

export function isBackendChoice(s: string): s is BackendChoice {
  return Object.prototype.hasOwnProperty.call(BackendChoice, s);
}

/** fast: hand-written backward pass; tape: tfjs autodiff (the slow reference). */
export const EngineKind = { fast: 'fast', tape: 'tape' } as const;
export type EngineKind = (typeof EngineKind)[keyof typeof EngineKind];

export function isEngineKind(s: string): s is EngineKind {
  return Object.prototype.hasOwnProperty.call(EngineKind, s);
}
