import type { TrainedActivation } from '../activations/index.js';
import { rng } from './rng.js';

/** The shape of the MLP: `sizes[0]` inputs, then one entry per layer (the last is the output). */
export interface Architecture {
  readonly sizes: readonly number[];
  /** one activation per non-input layer, output layer included */
  readonly activations: readonly TrainedActivation[];
}

/** Parameters of one dense layer, in PyTorch's layout: `w[o * fanIn + i]` maps input i to unit o. */
export interface LayerParams {
  readonly fanIn: number;
  readonly fanOut: number;
  readonly w: Float32Array;
  readonly b: Float32Array;
}

/**
 * PyTorch's default `nn.Linear` initialization: weights and biases uniform in ±1/sqrt(fan_in).
 * Drawn in JS from the seed, so every backend starts from the same numbers.
 */
export function initParams(arch: Architecture, seed: number): LayerParams[] {
  const r = rng(seed, 'init');
  const layers: LayerParams[] = [];
  for (let l = 0; l + 1 < arch.sizes.length; l++) {
    const fanIn = arch.sizes[l], fanOut = arch.sizes[l + 1];
    const k = 1 / Math.sqrt(fanIn);
    const w = new Float32Array(fanOut * fanIn);
    const b = new Float32Array(fanOut);
    for (let i = 0; i < w.length; i++) w[i] = (2 * r.float() - 1) * k;
    for (let i = 0; i < b.length; i++) b[i] = (2 * r.float() - 1) * k;
    layers.push({ fanIn, fanOut, w, b });
  }
  return layers;
}
