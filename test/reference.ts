/**
 * An independent reference: the study's MLP written with plain loops in float64, no tfjs. Its
 * gradients are themselves checked against finite differences (engine.test.ts).
 * Layouts follow the engine's hooks: z, a, dz are `[units][batch]`, dW is `[out][in]`.
 */
import { SELU_ALPHA, SELU_SCALE, type TrainedActivation } from '../src/activations/index.js';
import type { LayerParams } from '../src/train/model.js';

export interface RefLayer {
  input: Float64Array; // [in × B]
  z: Float64Array; // [out × B]
  a: Float64Array;
  dz: Float64Array;
  dW: Float64Array; // [out × in]
  db: Float64Array; // [out]
}

export interface RefStep {
  loss: number;
  correct: number;
  layers: RefLayer[];
}

export function act(z: number, f: TrainedActivation): number {
  switch (f) {
    case 'relu': return z > 0 ? z : 0;
    case 'sigmoid': return 1 / (1 + Math.exp(-z));
    case 'tanh': return Math.tanh(z);
    case 'selu': return z > 0 ? SELU_SCALE * z : SELU_SCALE * SELU_ALPHA * (Math.exp(z) - 1);
    // the output interventions' (PyTorch's nn.LeakyReLU default slope)
    case 'linear': return z;
    case 'leakyrelu': return z > 0 ? z : 0.01 * z;
  }
}

export function dact(z: number, f: TrainedActivation): number {
  switch (f) {
    case 'relu': return z > 0 ? 1 : 0;
    case 'sigmoid': { const s = 1 / (1 + Math.exp(-z)); return s * (1 - s); }
    case 'tanh': { const t = Math.tanh(z); return 1 - t * t; }
    case 'selu': return z > 0 ? SELU_SCALE : SELU_SCALE * SELU_ALPHA * Math.exp(z);
    case 'linear': return 1;
    case 'leakyrelu': return z > 0 ? 1 : 0.01;
  }
}

/** `x` is batch-major `[B × in]`. */
export function refStep(params: readonly LayerParams[], acts: readonly TrainedActivation[], x: Float32Array, labels: ArrayLike<number>, B: number, backward = true): RefStep {
  return refStepBn(params, acts, [], x, labels, B, backward);
}

/** PyTorch SGD with momentum, in float64 on copies. */
export function refSgd(params: LayerParams[], velocity: { w: Float64Array; b: Float64Array }[] | null, step: RefStep, lr: number, mu: number): { params: LayerParams[]; velocity: { w: Float64Array; b: Float64Array }[] } {
  const v = params.map((_, l) => ({
    w: Float64Array.from(step.layers[l].dW, (g, k) => (velocity ? mu * velocity[l].w[k] + g : g)),
    b: Float64Array.from(step.layers[l].db, (g, k) => (velocity ? mu * velocity[l].b[k] + g : g)),
  }));
  const next = params.map((p, l) => ({
    fanIn: p.fanIn, fanOut: p.fanOut,
    w: Float32Array.from(p.w, (x, k) => x - lr * v[l].w[k]),
    b: Float32Array.from(p.b, (x, k) => x - lr * v[l].b[k]),
  }));
  return { params: next, velocity: v };
}

/**
 * Forward and backward, with batch normalization before the activation on the layers flagged in
 * `bn` (γ = 1, β = 0, batch statistics, biased variance, eps 1e-5), in float64.
 * Returns z (post-norm), dz (dL/dz, post-norm), dW and db as the engine's hooks report them.
 */
export function refStepBn(params: readonly LayerParams[], acts: readonly TrainedActivation[], bn: readonly boolean[], x: Float32Array, labels: ArrayLike<number>, B: number, backward = true): RefStep {
  const layers: RefLayer[] = [];
  const cache: { u: Float64Array; xhat: Float64Array; inv: Float64Array }[] = [];
  let h = new Float64Array(params[0].fanIn * B);
  for (let s = 0; s < B; s++) for (let i = 0; i < params[0].fanIn; i++) h[i * B + s] = x[s * params[0].fanIn + i];
  for (let l = 0; l < params.length; l++) {
    const { fanIn, fanOut, w, b: bias } = params[l];
    const u = new Float64Array(fanOut * B), z = new Float64Array(fanOut * B), a = new Float64Array(fanOut * B);
    const xhat = new Float64Array(fanOut * B), inv = new Float64Array(fanOut);
    for (let o = 0; o < fanOut; o++) {
      for (let s = 0; s < B; s++) {
        let sum = bias[o];
        for (let i = 0; i < fanIn; i++) sum += w[o * fanIn + i] * h[i * B + s];
        u[o * B + s] = sum;
      }
      if (bn[l]) {
        let m = 0; for (let s = 0; s < B; s++) m += u[o * B + s]; m /= B;
        let v = 0; for (let s = 0; s < B; s++) v += (u[o * B + s] - m) ** 2; v /= B;
        inv[o] = 1 / Math.sqrt(v + 1e-5);
        for (let s = 0; s < B; s++) { xhat[o * B + s] = (u[o * B + s] - m) * inv[o]; z[o * B + s] = xhat[o * B + s]; }
      } else {
        for (let s = 0; s < B; s++) z[o * B + s] = u[o * B + s];
      }
      for (let s = 0; s < B; s++) a[o * B + s] = act(z[o * B + s], acts[l]);
    }
    layers.push({ input: h, z, a, dz: new Float64Array(fanOut * B), dW: new Float64Array(fanOut * fanIn), db: new Float64Array(fanOut) });
    cache.push({ u, xhat, inv });
    h = a;
  }
  const C = params[params.length - 1].fanOut;
  const out = layers[layers.length - 1].a;
  let loss = 0, correct = 0;
  let grad = new Float64Array(C * B);
  for (let s = 0; s < B; s++) {
    let max = -Infinity, arg = 0;
    for (let c = 0; c < C; c++) if (out[c * B + s] > max) { max = out[c * B + s]; arg = c; }
    let sum = 0;
    for (let c = 0; c < C; c++) sum += Math.exp(out[c * B + s] - max);
    const lse = max + Math.log(sum);
    loss -= out[labels[s] * B + s] - lse;
    if (arg === labels[s]) correct++;
    for (let c = 0; c < C; c++) grad[c * B + s] = (Math.exp(out[c * B + s] - lse) - (c === labels[s] ? 1 : 0)) / B;
  }
  if (!backward) return { loss: loss / B, correct, layers };
  for (let l = params.length - 1; l >= 0; l--) {
    const { fanIn, fanOut, w } = params[l];
    const L = layers[l], { xhat, inv } = cache[l];
    for (let k = 0; k < fanOut * B; k++) L.dz[k] = grad[k] * dact(L.z[k], acts[l]);
    const du = new Float64Array(fanOut * B);
    for (let o = 0; o < fanOut; o++) {
      if (bn[l]) {
        // γ = 1: dx̂ = dz
        let s1 = 0, s2 = 0;
        for (let s = 0; s < B; s++) { s1 += L.dz[o * B + s]; s2 += L.dz[o * B + s] * xhat[o * B + s]; }
        for (let s = 0; s < B; s++) du[o * B + s] = (inv[o] / B) * (B * L.dz[o * B + s] - s1 - xhat[o * B + s] * s2);
      } else {
        for (let s = 0; s < B; s++) du[o * B + s] = L.dz[o * B + s];
      }
      let db = 0;
      for (let s = 0; s < B; s++) db += du[o * B + s];
      L.db[o] = db;
      for (let i = 0; i < fanIn; i++) {
        let sum = 0;
        for (let s = 0; s < B; s++) sum += du[o * B + s] * L.input[i * B + s];
        L.dW[o * fanIn + i] = sum;
      }
    }
    if (l > 0) {
      const next = new Float64Array(fanIn * B);
      for (let i = 0; i < fanIn; i++) for (let s = 0; s < B; s++) {
        let sum = 0;
        for (let o = 0; o < fanOut; o++) sum += w[o * fanIn + i] * du[o * B + s];
        next[i * B + s] = sum;
      }
      grad = next;
    }
  }
  return { loss: loss / B, correct, layers };
}
