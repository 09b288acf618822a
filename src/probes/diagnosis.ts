/**
 * Diagnosis at evaluation: on the test set, before training and after every epoch, the
 * hypotheses' measures per layer and the attribution of each error to candidate causes
 * (study.ts names both). Plain loops over what the engine read back; it never touches the model.
 *
 * Per misclassified input, a cause applies when:
 * - true_unit_off: the output layer is ReLU and the true class's unit has z ≤ 0;
 * - prev_saturated: the layer before the output is sigmoid/tanh/selu and more than half of its
 *   units are at their extremes (the run's thresholds) for this input;
 * - grad_vanished: ‖∂L_x/∂u‖ at the layer before the output is below GRAD_VANISHED × the mean of
 *   the same over the test set before training.
 */
import { canDie, canSaturate, specOf, type ActivationSpec, type SatThresholds } from '../activations/index.js';
import { Cause, CAUSE_INFO, CAUSES, CAUSE_SETS, Diag, errorCell, errorShare, GRAD_VANISHED, inputShare, MOST, SAT_LOOSE, SAT_STRICT } from '../study.js';

/** Outputs below `lo` or above `hi` are saturated, as the saturation probe counts (the activation's spec). */
interface Band { readonly lo: number; readonly hi: number }

function band(spec: ActivationSpec, t: SatThresholds): Band {
  if (!canSaturate(spec)) return { lo: -Infinity, hi: Infinity };
  return { lo: spec.saturation.low(t), hi: spec.saturation.high ? spec.saturation.high(t) : Infinity };
}

const outside = (v: number, b: Band) => v < b.lo || v > b.hi;

/** A layer's activation as the diagnosis reads it: where it dies and where it saturates, if it can. */
interface LayerRule {
  readonly spec: ActivationSpec;
  /** z ≤ this is inactive; null when the activation cannot die */
  readonly deadAt: number | null;
  /** the run's, the stricter and the looser thresholds; null when it cannot saturate */
  readonly sat: { readonly run: Band; readonly strict: Band; readonly loose: Band } | null;
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

/** Accumulates one evaluation over chunks; {@link finish} gives the rows. */
export class DiagnosisAccumulator {
  private n = 0;
  private readonly sums: LayerSums[];
  private trueInactive = 0;
  /** per input, in order: bit 0 wrong, bit 1 true_unit_off, bit 2 prev_saturated */
  private readonly flags: number[] = [];
  private readonly prevGrad: number[] = [];

  private readonly rules: readonly LayerRule[];

  constructor(readonly acts: readonly string[], readonly widths: readonly number[], readonly settings: SatThresholds) {
    this.rules = acts.map((a) => ruleOf(a, settings));
    this.sums = acts.map(() => ({ inactive: 0, deadInputs: 0, majority: 0, sat: 0, strict: 0, loose: 0, satInputs: 0, deriv: 0, grad: 0 }));
  }

  add(c: EvalChunk): void {
    const L = this.acts.length, n = c.n;
    const out = c.layers[L - 1], outDead = this.rules[L - 1].deadAt, classes = this.widths[L - 1];
    for (let l = 0; l < L; l++) {
      const rule = this.rules[l], units = this.widths[l], { z, a, gradNorm } = c.layers[l], s = this.sums[l];
      for (let x = 0; x < n; x++) s.grad += gradNorm[x];
      if (rule.deadAt !== null) {
        const at = rule.deadAt;
        for (let x = 0; x < n; x++) {
          let off = 0;
          for (let u = 0; u < units; u++) if (z[u * n + x] <= at) off++;
          s.inactive += off;
          if (off === units) s.deadInputs++;
          if (off > MOST * units) s.majority++;
        }
      } else if (rule.sat) {
        const { run, strict, loose } = rule.sat, df = rule.spec.df;
        for (let x = 0; x < n; x++) {
          let sat = 0;
          for (let u = 0; u < units; u++) {
            const i = u * n + x, v = a[i];
            if (outside(v, run)) sat++;
            if (outside(v, strict)) s.strict++;
            if (outside(v, loose)) s.loose++;
            s.deriv += df(z[i], v);
          }
          s.sat += sat;
          if (sat > MOST * units) s.satInputs++;
        }
      }
    }
    const prev = L >= 2 ? c.layers[L - 2] : null, prevSat = L >= 2 ? this.rules[L - 2].sat : null, prevUnits = L >= 2 ? this.widths[L - 2] : 0;
    for (let x = 0; x < n; x++) {
      const y = c.labels[x];
      // prediction: arg-max of the output, first on ties (as tf.argMax)
      let best = -Infinity, arg = 0;
      for (let k = 0; k < classes; k++) { const v = out.a[k * n + x]; if (v > best) { best = v; arg = k; } }
      let f = arg !== y ? 1 : 0;
      if (outDead !== null && out.z[y * n + x] <= outDead) { f |= 2; this.trueInactive++; }
      if (prev && prevSat) {
        let sat = 0;
        for (let u = 0; u < prevUnits; u++) if (outside(prev.a[u * n + x], prevSat.run)) sat++;
        if (sat > MOST * prevUnits) f |= 4;
      }
      this.flags.push(f);
      this.prevGrad.push(prev ? prev.gradNorm[x] : NaN);
    }
    this.n += n;
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
  ...CAUSES.flatMap((c) => [inputShare(c), errorShare(c)]),
  ...CAUSE_SETS.map(errorCell),
];

export { Cause };
