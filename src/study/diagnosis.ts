/**
 * Diagnosis at evaluation: on the test set, before training and after every epoch, the
 * hypotheses' measures per layer and the attribution of each error to candidate causes
 * (study.ts names both). Plain loops over the engine's arrays (lent in place on wasm and cpu, see
 * Mlp.withEvaluateDetail); it never touches the model.
 *
 * Per misclassified input, a cause applies when:
 * - true_unit_off: the output layer is ReLU and the true class's unit has z ≤ 0;
 * - prev_saturated: the layer before the output is sigmoid/tanh/selu and more than half of its
 *   units are at their extremes (the run's thresholds) for this input;
 * - grad_vanished: ‖∂L_x/∂u‖ at the layer before the output is below GRAD_VANISHED × the mean of
 *   the same over the test set before training.
 */
import { canDie, canSaturate, specOf, type ActivationSpec, type SatThresholds } from '../activations/index.js';
import { Cause, CAUSE_INFO, CAUSES, CAUSE_SETS, Diag, errorCell, errorShare, GRAD_VANISHED, inputShare, MOST, SAT_LOOSE, SAT_STRICT } from './study.js';
import { LayerErrorShare } from '../trace/metrics.js';

/** Outputs below `lo` or above `hi` are saturated, as the saturation probe counts (the activation's spec). */
interface Band { readonly lo: number; readonly hi: number }

function band(spec: ActivationSpec, t: SatThresholds): Band {
  if (!canSaturate(spec)) return { lo: -Infinity, hi: Infinity };
  return { lo: spec.saturation.low(t), hi: spec.saturation.high ? spec.saturation.high(t) : Infinity };
}

/** A layer's activation as the diagnosis reads it: where it dies and where it saturates, if it can. */
interface LayerRule {
  readonly spec: ActivationSpec;
  /** z ≤ this is inactive; null when the activation cannot die */
  readonly deadAt: number | null;
  /** the run's, the stricter and the looser thresholds; null when it cannot saturate */
  readonly sat: Bands | null;
}

interface Bands { readonly run: Band; readonly strict: Band; readonly loose: Band }

/**
 * Over `[units, n]` (unit-major) entries: how many are ≤ at (NaN is not), and per input, into
 * `count` (zeroed by the caller).
 */
function countBelow(z: Float32Array, units: number, n: number, at: number, count: Int32Array): number {
  let total = 0;
  for (let u = 0; u < units; u++) {
    const base = u * n;
    // `+(…)` rather than `? 1 : 0`: V8 then emits no branch, which on real activations (signs
    // with no pattern) mispredicted half the time, ~4× slower measured
    for (let x = 0; x < n; x++) count[x] += +(z[base + x] <= at);
  }
  for (let x = 0; x < n; x++) total += count[x];
  return total;
}

/**
 * Over `[units, n]` (unit-major) entries, in one pass: per input, how many lie outside the run's
 * band (into `count`, zeroed by the caller), and in all, how many lie outside each band (NaN lies
 * in every band).
 * Returns [run, strict, loose] in `totals`.
 */
function countSaturated(a: Float32Array, units: number, n: number, bands: Bands, count: Int32Array, totals: Float64Array): void {
  const rlo = bands.run.lo, rhi = bands.run.hi, slo = bands.strict.lo, shi = bands.strict.hi, llo = bands.loose.lo, lhi = bands.loose.hi;
  let run = 0, strict = 0, loose = 0;
  for (let u = 0; u < units; u++) {
    const base = u * n;
    // no branches (see countBelow): `|` of the two comparisons is `||` without the jump
    for (let x = 0; x < n; x++) {
      const v = a[base + x];
      count[x] += +(v < rlo) | +(v > rhi);
      strict += +(v < slo) | +(v > shi);
      loose += +(v < llo) | +(v > lhi);
    }
  }
  for (let x = 0; x < n; x++) run += count[x];
  totals[0] = run; totals[1] = strict; totals[2] = loose;
}

/** Over `[units, n]` entries: per input, how many lie outside the band (NaN does not), added into `count`. */
function countOutside(a: Float32Array, units: number, n: number, { lo, hi }: Band, count: Int32Array): void {
  for (let u = 0; u < units; u++) {
    const base = u * n;
    for (let x = 0; x < n; x++) { const v = a[base + x]; count[x] += +(v < lo) | +(v > hi); }
  }
}

function ruleOf(act: string, t: SatThresholds): LayerRule {
  const spec = specOf(act);
  if (!spec) throw new Error(`diagnosis: no activation spec for '${act}'`);
  return {
    spec,
    deadAt: canDie(spec) ? spec.death.zAtMost : null,
    sat: canSaturate(spec) ? { run: band(spec, t), strict: band(spec, SAT_STRICT), loose: band(spec, SAT_LOOSE) } : null,
  };
}

/** One chunk of the test set as the engine read it back (feature-major `[units, n]`). */
export interface EvalChunk {
  readonly n: number;
  readonly labels: ArrayLike<number>;
  readonly layers: readonly { readonly z: Float32Array; readonly a: Float32Array; readonly gradNorm: Float32Array }[];
}

export interface DiagnosisRow {
  /** 0 = whole network */
  readonly layer: number;
  readonly metric: string;
  readonly value: number;
}

export interface DiagnosisResult {
  readonly rows: readonly DiagnosisRow[];
  /** per layer (index 0 = layer 1): mean ‖∂L_x/∂u‖ over the test set — before training, the reference of grad_vanished */
  readonly gradMeans: readonly number[];
}

interface LayerSums { inactive: number; deadInputs: number; majority: number; sat: number; strict: number; loose: number; satInputs: number; deriv: number; grad: number }

/** Per layer, over the misclassified inputs: how many had most units off / saturated, a gradient exactly 0; each one's gradient size. */
interface LayerErrors { mostOff: number; mostSat: number; gradZero: number; readonly grad: number[] }

/** Accumulates one evaluation over chunks; {@link finish} gives the rows. */
export class DiagnosisAccumulator {
  private n = 0;
  private readonly sums: LayerSums[];
  private readonly errs: LayerErrors[];
  private trueInactive = 0;
  /** per input, in order: bit 0 wrong, bit 1 true_unit_off, bit 2 prev_saturated */
  private readonly flags: number[] = [];
  private readonly prevGrad: number[] = [];
  /** per layer, per input of the current chunk: units inactive; units saturated (the run's band) */
  private offBy: Int32Array[];
  private satBy: Int32Array[];
  private best = new Float64Array(0);
  private arg = new Int32Array(0);
  private readonly totals = new Float64Array(3);

  private readonly rules: readonly LayerRule[];

  constructor(readonly acts: readonly string[], readonly widths: readonly number[], readonly settings: SatThresholds) {
    this.rules = acts.map((a) => ruleOf(a, settings));
    this.sums = acts.map(() => ({ inactive: 0, deadInputs: 0, majority: 0, sat: 0, strict: 0, loose: 0, satInputs: 0, deriv: 0, grad: 0 }));
    this.errs = acts.map(() => ({ mostOff: 0, mostSat: 0, gradZero: 0, grad: [] }));
    this.offBy = acts.map(() => new Int32Array(0));
    this.satBy = this.offBy;
  }

  /**
   * Reads each layer's `[units, n]` arrays in memory order (unit outer, input inner), once per
   * layer, keeping the per-input counts in reused typed arrays; the input-outer order read one
   * float per stride of n and called the spec's `df` per entry. Counts are the same integers in
   * any order; the float64 sum `deriv` differs from an input-outer order by rounding only
   * (test/diagnosis-add.test.ts allows 1e-12 relative).
   */
  add(c: EvalChunk): void {
    const L = this.acts.length, n = c.n;
    if (this.offBy[0].length < n) {
      this.offBy = this.acts.map(() => new Int32Array(n));
      this.satBy = this.acts.map(() => new Int32Array(n));
    }
    for (let l = 0; l < L; l++) {
      const rule = this.rules[l], units = this.widths[l], { z, a, gradNorm } = c.layers[l], s = this.sums[l];
      for (let x = 0; x < n; x++) s.grad += gradNorm[x];
      const off = this.offBy[l], sat = this.satBy[l];
      if (rule.deadAt !== null) {
        off.fill(0, 0, n);
        s.inactive += countBelow(z, units, n, rule.deadAt, off);
        for (let x = 0; x < n; x++) {
          if (off[x] === units) s.deadInputs++;
          if (off[x] > MOST * units) s.majority++;
        }
        // an activation that dies and saturates (relu6) is read as dying; its saturation per input still serves
        // prev_saturated (before the output) and the share of errors with most units at the extremes
        if (rule.sat) { sat.fill(0, 0, n); countOutside(a, units, n, rule.sat.run, sat); }
      } else if (rule.sat) {
        sat.fill(0, 0, n);
        const t = this.totals;
        countSaturated(a, units, n, rule.sat, sat, t);
        s.sat += t[0]; s.strict += t[1]; s.loose += t[2];
        // the spec's own loop (one call site per activation, inlined); its mean times the entries is the sum up to one rounding
        const len = units * n;
        s.deriv += rule.spec.meanDf(z.subarray(0, len), a.subarray(0, len)) * len;
        for (let x = 0; x < n; x++) if (sat[x] > MOST * units) s.satInputs++;
      }
    }
    const out = c.layers[L - 1], outDead = this.rules[L - 1].deadAt, classes = this.widths[L - 1];
    // prediction: arg-max of the output, first on ties (as tf.argMax), class outer
    const best = this.best.length >= n ? this.best : (this.best = new Float64Array(n));
    const arg = this.arg.length >= n ? this.arg : (this.arg = new Int32Array(n));
    best.fill(-Infinity, 0, n);
    arg.fill(0, 0, n);
    for (let k = 0; k < classes; k++) {
      const base = k * n;
      for (let x = 0; x < n; x++) { const v = out.a[base + x]; if (v > best[x]) { best[x] = v; arg[x] = k; } }
    }
    // the layer before the output: its per-input count of saturated units is the one taken above (the run's band)
    const prev = L >= 2 ? c.layers[L - 2] : null, prevSat = L >= 2 && this.rules[L - 2].sat ? this.satBy[L - 2] : null;
    const prevMost = L >= 2 ? MOST * this.widths[L - 2] : 0;
    for (let x = 0; x < n; x++) {
      const y = c.labels[x];
      let f = arg[x] !== y ? 1 : 0;
      if (f) this.addError(c, x);
      if (outDead !== null && out.z[y * n + x] <= outDead) { f |= 2; this.trueInactive++; }
      if (prevSat && prevSat[x] > prevMost) f |= 4;
      this.flags.push(f);
      this.prevGrad.push(prev ? prev.gradNorm[x] : NaN);
    }
    this.n += n;
  }

  /** A misclassified input, per layer: most units off or saturated (the counts taken in {@link add}), its gradient. */
  private addError(c: EvalChunk, x: number): void {
    for (let l = 0; l < this.acts.length; l++) {
      const rule = this.rules[l], most = MOST * this.widths[l], e = this.errs[l], g = c.layers[l].gradNorm[x];
      if (rule.deadAt !== null && this.offBy[l][x] > most) e.mostOff++;
      if (rule.sat && this.satBy[l][x] > most) e.mostSat++;
      if (g === 0) e.gradZero++;
      e.grad.push(g);
    }
  }

  /**
   * @param gradRef per layer, the mean ‖∂L_x/∂u‖ before training; null for the evaluation before
   * training itself, which is then its own reference
   */
  finish(gradRef: readonly number[] | null): DiagnosisResult {
    const L = this.acts.length, N = this.n;
    const rows: DiagnosisRow[] = [];
    const put = (layer: number, metric: string, value: number) => rows.push({ layer, metric, value });
    const gradMeans = this.sums.map((s) => s.grad / N);
    const ref = gradRef ?? gradMeans;
    this.sums.forEach((s, i) => {
      const l = i + 1, rule = this.rules[i], pairs = N * this.widths[i];
      if (rule.deadAt !== null) {
        put(l, Diag.inactivePairs, s.inactive / pairs);
        put(l, Diag.deadInputs, s.deadInputs / N);
        put(l, Diag.majorityInactive, s.majority / N);
        if (l === L) put(l, Diag.trueInactive, this.trueInactive / N);
      } else if (rule.sat) {
        put(l, Diag.satPairs, s.sat / pairs);
        put(l, Diag.satPairsStrict, s.strict / pairs);
        put(l, Diag.satPairsLoose, s.loose / pairs);
        put(l, Diag.satInputs, s.satInputs / N);
        put(l, Diag.meanDeriv, s.deriv / pairs);
      }
      put(l, Diag.gradNorm, gradMeans[i]);
      put(l, Diag.gradRatio, ref[i] > 0 ? gradMeans[i] / ref[i] : NaN);
    });
    // per layer, the share of errors each finding's per-input form applies to (NaN without errors)
    this.errs.forEach((e, i) => {
      const l = i + 1, rule = this.rules[i], k = e.grad.length, share = (v: number) => (k ? v / k : NaN);
      if (rule.deadAt !== null) put(l, LayerErrorShare.mostOff, share(e.mostOff));
      if (rule.sat) put(l, LayerErrorShare.mostSat, share(e.mostSat));
      put(l, LayerErrorShare.gradZero, share(e.gradZero));
      let vanished = 0;
      for (const g of e.grad) vanished += +(g < GRAD_VANISHED * ref[i]);
      put(l, LayerErrorShare.gradVanished, ref[i] > 0 ? share(vanished) : NaN);
    });
    // attribution
    const prevRef = L >= 2 ? ref[L - 2] : NaN;
    const inCount = new Array<number>(CAUSES.length).fill(0), errCount = new Array<number>(CAUSES.length).fill(0);
    const cells = new Array<number>(CAUSE_SETS.length).fill(0);
    let errors = 0;
    for (let x = 0; x < N; x++) {
      const f = this.flags[x];
      const applies = [(f & 2) !== 0, (f & 4) !== 0, this.prevGrad[x] < GRAD_VANISHED * prevRef];
      let mask = 0;
      applies.forEach((on, k) => { if (on) { inCount[k]++; mask |= 1 << k; } });
      if (f & 1) {
        errors++;
        applies.forEach((on, k) => { if (on) errCount[k]++; });
        cells[mask]++;
      }
    }
    put(0, Diag.errors, errors / N);
    CAUSES.forEach((c, k) => {
      // a cause that cannot apply to this network is NaN (not applicable), not 0
      const na = !CAUSE_INFO[c].applies(this.acts);
      put(0, inputShare(c), na ? NaN : inCount[k] / N);
      put(0, errorShare(c), na || !errors ? NaN : errCount[k] / errors);
    });
    CAUSE_SETS.forEach((set, m) => put(0, errorCell(set), errors ? cells[m] / errors : NaN));
    return { rows, gradMeans };
  }
}

/** Every metric name the diagnosis may write, for the trace's dictionary. */
export const DIAGNOSIS_METRICS: readonly string[] = [
  ...Object.values(Diag),
  ...Object.values(LayerErrorShare),
  ...CAUSES.flatMap((c) => [inputShare(c), errorShare(c)]),
  ...CAUSE_SETS.map(errorCell),
];

export { Cause };
