/**
 * Plain-loop reference values of every built-in probe, from host copies of the step's tensors.
 * {@link REFERENCES} maps each probe id to its reference: a probe added to `ProbeId` without one
 * does not compile, and test/probes.test.ts checks every probe of the registry against it.
 */
import { canDie, canSaturate, SELU_ALPHA, SELU_SCALE, specOf, type Activation } from '../src/activations/index.js';
import type { ProbeId } from '../src/probes/ids.js';
import type { LayerInfo, ProbeSettings } from '../src/probes/probe.js';
import { QUANTILES } from '../src/trace/metrics.js';

const mean = (xs: ArrayLike<number>) => { let s = 0; for (let i = 0; i < xs.length; i++) s += xs[i]; return s / xs.length; };
const norm = (xs: ArrayLike<number>) => { let s = 0; for (let i = 0; i < xs.length; i++) s += xs[i] * xs[i]; return Math.sqrt(s); };
const maxAbs = (xs: ArrayLike<number>) => { let m = 0; for (let i = 0; i < xs.length; i++) m = Math.max(m, Math.abs(xs[i])); return m; };

export function refSaturation(act: Activation, z: ArrayLike<number>, a: ArrayLike<number>, s: ProbeSettings): number[] {
  const n = a.length;
  let low = 0, high = 0, deriv = 0;
  for (let i = 0; i < n; i++) {
    const v = a[i];
    if (act === 'sigmoid') { if (v < s.sigmoidLow) low++; if (v > s.sigmoidHigh) high++; deriv += v * (1 - v); }
    if (act === 'tanh') { if (v < -s.tanhSat) low++; if (v > s.tanhSat) high++; deriv += 1 - v * v; }
    if (act === 'selu') { if (v < -s.seluSat * SELU_SCALE * SELU_ALPHA) low++; deriv += z[i] > 0 ? SELU_SCALE : SELU_SCALE * SELU_ALPHA * Math.exp(z[i]); }
  }
  if (act === 'selu') return [low / n, low / n, deriv / n];
  return [(low + high) / n, low / n, high / n, deriv / n];
}

/** The band of a saturating activation as the reference reads the settings: [low end, high end]. */
function band(act: Activation, s: ProbeSettings): [number, number] {
  if (act === 'sigmoid') return [s.sigmoidLow, s.sigmoidHigh];
  if (act === 'tanh') return [-s.tanhSat, s.tanhSat];
  if (act === 'selu') return [-s.seluSat * SELU_SCALE * SELU_ALPHA, Infinity];
  throw new Error(`no saturation band for '${act}'`);
}

/**
 * dL/da of the study's loss (mean over the batch of −log softmax(a)[label]) at the output a
 * `[classes][batch]`, in float64: (softmax(a) − onehot(label)) / batch, column by column.
 */
export function refOutputGrad(a: ArrayLike<number>, labels: ArrayLike<number>, classes: number, batch: number): Float64Array {
  const g = new Float64Array(classes * batch);
  for (let s = 0; s < batch; s++) {
    let max = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, a[c * batch + s]);
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp(a[c * batch + s] - max);
    for (let c = 0; c < classes; c++) g[c * batch + s] = (Math.exp(a[c * batch + s] - max) / sum - (c === labels[s] ? 1 : 0)) / batch;
  }
  return g;
}

/**
 * Share of the output's entries saturated on the wrong side: below the band with dL/da < 0 (the
 * loss wants it higher) or above it with dL/da > 0. `g` is dL/da in a's layout.
 */
export function refSatWrong(act: Activation, a: ArrayLike<number>, g: ArrayLike<number>, s: ProbeSettings): number {
  const [lo, hi] = band(act, s);
  let wrong = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] < lo && g[i] < 0) wrong++;
    else if (a[i] > hi && g[i] > 0) wrong++;
  }
  return wrong / a.length;
}

/** z is `[units][batch]`. Inactive means z ≤ 0, active z > 0; NaN is neither. */
export function refDeadRelu(z: ArrayLike<number>, units: number, batch: number, perUnit: boolean): number[] {
  let inactive = 0, deadUnits = 0, deadRows = 0;
  const activeShare: number[] = [];
  const isOff = (v: number) => !Number.isNaN(v) && v <= 0;
  const isOn = (v: number) => !Number.isNaN(v) && v > 0;
  for (let u = 0; u < units; u++) {
    let all = true, active = 0;
    for (let s = 0; s < batch; s++) {
      const v = z[u * batch + s];
      if (isOff(v)) inactive++;
      else all = false;
      if (isOn(v)) active++;
    }
    if (all) deadUnits++;
    activeShare.push(active / batch);
  }
  for (let s = 0; s < batch; s++) {
    let all = true;
    for (let u = 0; u < units; u++) if (!isOff(z[u * batch + s])) all = false;
    if (all) deadRows++;
  }
  const base = [inactive / (units * batch), deadUnits / units, deadRows / batch];
  return perUnit ? [...base, ...activeShare] : base;
}

export function refGradients(dW: ArrayLike<number>, db: ArrayLike<number>, dz: ArrayLike<number>, w: ArrayLike<number>, v: ArrayLike<number>, lr: number): number[] {
  return [norm(dW), maxAbs(dW), norm(db), maxAbs(db), norm(dz), maxAbs(dz), (lr * norm(v)) / norm(w)];
}

/** output is `[classes][batch]`. */
export function refLossProbe(loss: number, output: ArrayLike<number>, labels: ArrayLike<number>, classes: number, batch: number): number[] {
  let hits = 0;
  for (let s = 0; s < batch; s++) {
    let best = -Infinity, arg = 0;
    for (let c = 0; c < classes; c++) if (output[c * batch + s] > best) { best = output[c * batch + s]; arg = c; }
    if (arg === labels[s]) hits++;
  }
  return [loss, hits / batch];
}

export { mean };

/** Quantiles (percent) of z then a: sorted copies, linear interpolation at rank (n − 1)·p. */
export function refDistribution(z: ArrayLike<number>, a: ArrayLike<number>, percents: readonly number[]): number[] {
  const out: number[] = [];
  for (const x of [z, a]) {
    const s = Float32Array.from(x as ArrayLike<number>).sort();
    for (const pc of percents) {
      const h = ((s.length - 1) * pc) / 100;
      const i = Math.floor(h);
      const j = i + 1 < s.length ? i + 1 : i;
      out.push(s[i] + (h - i) * (s[j] - s[i]));
    }
  }
  return out;
}

/** Host copies of what one probed step showed a layer: z, a and dL/dz are `[units][batch]`. */
export interface SeenLayer {
  readonly z: Float32Array;
  readonly a: Float32Array;
  readonly dz: Float32Array;
  readonly dW: Float32Array;
  readonly db: Float32Array;
  readonly w: Float32Array;
  /** the optimizer's velocity, so ΔW = lr · v */
  readonly v: Float32Array;
}

/** What one probed step showed the whole network. */
export interface SeenStep {
  readonly loss: number;
  /** `[classes][batch]` */
  readonly output: Float32Array;
  readonly labels: Int32Array;
  readonly classes: number;
  readonly batch: number;
  readonly lr: number;
  readonly settings: ProbeSettings;
}

/**
 * A probe's reference and how close its values must come (|got − want| ≤ atol + rtol·|want|):
 * `network` for a network probe, `layer` for a layer probe ([] where the probe records nothing).
 */
export interface Reference {
  readonly rtol: number;
  readonly atol: number;
  readonly network?: (step: SeenStep) => number[];
  readonly layer?: (layer: LayerInfo, seen: SeenLayer, step: SeenStep) => number[];
}

/** The references here know the four activations of probe's MLP; another one must get its own. */
function known(act: string): Activation {
  if (!['relu', 'sigmoid', 'tanh', 'selu'].includes(act)) throw new Error(`no plain-loop reference for activation '${act}'`);
  return act as Activation;
}
const dies = (act: string) => canDie(specOf(known(act))!);

export const REFERENCES: { readonly [K in ProbeId]: Reference } = {
  loss: { rtol: 1e-6, atol: 1e-7, network: (s) => refLossProbe(s.loss, s.output, s.labels, s.classes, s.batch) },
  saturation: {
    rtol: 1e-5, atol: 1e-7,
    layer: (l, x, s) => {
      const act = known(l.activation);
      if (!canSaturate(specOf(act)!)) return [];
      const plain = refSaturation(act, x.z, x.a, s.settings);
      // the output layer: the wrong side of the study's loss, its gradient computed here from the labels
      return l.isOutput ? [...plain, refSatWrong(act, x.a, refOutputGrad(s.output, s.labels, s.classes, s.batch), s.settings)] : plain;
    },
  },
  'dead-relu': { rtol: 1e-6, atol: 1e-7, layer: (l, x, s) => (dies(l.activation) ? refDeadRelu(x.z, l.fanOut, s.batch, l.fanOut <= s.settings.perUnitMax) : []) },
  gradients: { rtol: 1e-4, atol: 1e-12, layer: (_l, x, s) => refGradients(x.dW, x.db, x.dz, x.w, x.v, s.lr) },
  // per unit, the share of samples with z > 0, for any width (the tail of refDeadRelu's per-unit figures)
  'unit-activity': { rtol: 1e-6, atol: 1e-7, layer: (l, x, s) => (dies(l.activation) ? refDeadRelu(x.z, l.fanOut, s.batch, true).slice(3) : []) },
  distribution: { rtol: 1e-6, atol: 1e-7, layer: (_l, x) => refDistribution(x.z, x.a, QUANTILES) },
};
