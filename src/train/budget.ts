/**
 * Whether a model's parameters fit in memory, decided before anything is allocated: a model too
 * large otherwise ends in a RangeError, the OOM killer, or a minute of swapping. Each parameter
 * lives about five times as float32 (initial values, weights, momentum, gradient, update), and
 * wasm addresses at most 4 GiB.
 */
import { totalmem } from 'node:os';

export interface MemoryNeed {
  readonly params: number;
  /** bytes */
  readonly need: number;
  /** bytes available to the backend */
  readonly limit: number;
}

/** The need of `params` parameters on `backend`, and the limit; `fits` says whether need ≤ limit. */
export function memoryNeed(params: number, backend: string): MemoryNeed & { readonly fits: boolean } {
  const need = params * 4 * 5;
  // auto may pick wasm, by timing a step of this very model: check before that
  const limit = Math.min(totalmem(), backend === 'wasm' || backend === 'auto' ? 2 ** 32 : Infinity);
  return { params, need, limit, fits: need <= limit };
}
