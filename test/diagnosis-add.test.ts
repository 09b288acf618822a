/**
 * The diagnosis accumulator's memory-order loops against the input-by-input loops they replaced,
 * kept here verbatim as the reference: random chunks with every kind of layer, NaN entries,
 * inputs whose units are all inactive or all saturated, and several ways to cut the test set into
 * chunks. Every count-derived row must be identical; `mean_deriv` is a float64 sum taken in
 * another order (and as the spec's mean times the entries), so it may differ by rounding: 1e-12
 * relative.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canDie, canSaturate, specOf, type ActivationSpec, type SatThresholds } from '../src/activations/index.js';
import { DiagnosisAccumulator, type DiagnosisResult, type EvalChunk } from '../src/study/diagnosis.js';
import { DEFAULT_PROBE_SETTINGS } from '../src/probes/probe.js';
import { rng } from '../src/train/rng.js';
import { CAUSE_INFO, CAUSES, CAUSE_SETS, Diag, errorCell, errorShare, GRAD_VANISHED, inputShare, MOST, SAT_LOOSE, SAT_STRICT } from '../src/study/study.js';

// ---- the reference: DiagnosisAccumulator as it was before the loops were reordered ----
interface Band { readonly lo: number; readonly hi: number }
function band(spec: ActivationSpec, t: SatThresholds): Band {
  if (!canSaturate(spec)) return { lo: -Infinity, hi: Infinity };
  return { lo: spec.saturation.low(t), hi: spec.saturation.high ? spec.saturation.high(t) : Infinity };
}
const outside = (v: number, b: Band) => v < b.lo || v > b.hi;
interface LayerRule { readonly spec: ActivationSpec; readonly deadAt: number | null; readonly sat: { readonly run: Band; readonly strict: Band; readonly loose: Band } | null }
function ruleOf(act: string, t: SatThresholds): LayerRule {
  const spec = specOf(act)!;
  return {
    spec,
    deadAt: canDie(spec) ? spec.death.zAtMost : null,
    sat: canSaturate(spec) ? { run: band(spec, t), strict: band(spec, SAT_STRICT), loose: band(spec, SAT_LOOSE) } : null,
  };
}
interface LayerSums { inactive: number; deadInputs: number; majority: number; sat: number; strict: number; loose: number; satInputs: number; deriv: number; grad: number }

class ReferenceAccumulator {
  private n = 0;
  private readonly sums: LayerSums[];
  private trueInactive = 0;
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

  finish(gradRef: readonly number[] | null): DiagnosisResult {
    const L = this.acts.length, N = this.n;
    const rows: { layer: number; metric: string; value: number }[] = [];
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
      const na = !CAUSE_INFO[c].applies(this.acts);
      put(0, inputShare(c), na ? NaN : inCount[k] / N);
      put(0, errorShare(c), na || !errors ? NaN : errCount[k] / errors);
    });
    CAUSE_SETS.forEach((set, m) => put(0, errorCell(set), errors ? cells[m] / errors : NaN));
    return { rows, gradMeans };
  }
}

// ---- random chunks ----
const S = DEFAULT_PROBE_SETTINGS;
/** thresholds that float32 represents exactly, so that outputs can sit right on a band's edge */
const EXACT: SatThresholds = { ...S, sigmoidLow: 0.0625, sigmoidHigh: 0.9375, tanhSat: 0.875, seluSat: 0.75 };

/** the run band's edges under {@link EXACT}, as float32 outputs */
function edges(spec: ActivationSpec): number[] {
  if (!canSaturate(spec)) return [];
  const lo = spec.saturation.low(EXACT), hi = spec.saturation.high ? spec.saturation.high(EXACT) : lo;
  return [Math.fround(lo), Math.fround(hi)];
}

/** One evaluation's worth of read-back arrays for `acts` (feature-major, the whole set at once). */
function evaluation(acts: readonly string[], widths: readonly number[], N: number, seed: number, nan: boolean) {
  const r = rng(seed, 'diagnosis-add');
  const layers = acts.map((act, l) => {
    const spec = specOf(act)!, units = widths[l];
    const z = new Float32Array(units * N), a = new Float32Array(units * N);
    // per input a regime: ordinary, every unit far below 0 (all dead or saturated low), every unit far above
    const regime = Array.from({ length: N }, () => { const p = r.float(); return p < 0.1 ? -1 : p < 0.2 ? 1 : 0; });
    for (let u = 0; u < units; u++) {
      for (let x = 0; x < N; x++) {
        const i = u * N + x, p = r.float();
        let v = regime[x] !== 0 ? regime[x] * (8 + 8 * r.float()) : (r.float() - 0.5) * 12;
        if (p < 0.05) v = 0; // relu's kink: 0 is inactive
        else if (p < 0.08 && canDie(spec)) v = spec.death.zAtMost;
        z[i] = v;
        a[i] = spec.f(z[i]);
        const e = edges(spec);
        if (e.length && p >= 0.1 && p < 0.14) a[i] = e[r.int(2)];
        if (nan && p > 0.98) z[i] = NaN;
        if (nan && p > 0.97 && p <= 0.99) a[i] = NaN;
      }
    }
    const gradNorm = Float32Array.from({ length: N }, () => (r.float() < 0.03 ? NaN : r.float()));
    return { z, a, gradNorm };
  });
  const labels = Uint8Array.from({ length: N }, () => r.int(widths[widths.length - 1]));
  return { labels, layers };
}

/** The evaluation cut into chunks of the given sizes, each feature-major on its own. */
function chunks(ev: ReturnType<typeof evaluation>, widths: readonly number[], sizes: readonly number[]): EvalChunk[] {
  const N = ev.labels.length, out: EvalChunk[] = [];
  let start = 0;
  for (const n of sizes) {
    const cut = (arr: Float32Array, units: number) => {
      const c = new Float32Array(units * n);
      for (let u = 0; u < units; u++) c.set(arr.subarray(u * N + start, u * N + start + n), u * n);
      return c;
    };
    out.push({
      n,
      labels: ev.labels.subarray(start, start + n),
      layers: ev.layers.map((L, l) => ({ z: cut(L.z, widths[l]), a: cut(L.a, widths[l]), gradNorm: L.gradNorm.slice(start, start + n) })),
    });
    start += n;
  }
  assert.equal(start, N);
  return out;
}

function assertSameRows(got: DiagnosisResult, want: DiagnosisResult, what: string) {
  assert.deepEqual(got.gradMeans, want.gradMeans, `${what}: gradMeans`);
  assert.deepEqual(got.rows.map((r) => `${r.layer}/${r.metric}`), want.rows.map((r) => `${r.layer}/${r.metric}`), `${what}: row names`);
  got.rows.forEach((g, i) => {
    const w = want.rows[i], name = `${what}: ${g.layer}/${g.metric}`;
    if (g.metric === Diag.meanDeriv && Number.isFinite(w.value)) {
      assert.ok(Math.abs(g.value - w.value) <= 1e-12 * Math.abs(w.value), `${name}: ${g.value} vs ${w.value}`);
    } else {
      assert.ok(Object.is(g.value, w.value), `${name}: ${g.value} vs ${w.value}`);
    }
  });
}

const CASES: readonly { readonly acts: readonly string[]; readonly widths: readonly number[] }[] = [
  { acts: ['relu', 'sigmoid', 'relu'], widths: [9, 6, 4] },
  { acts: ['tanh', 'tanh', 'relu'], widths: [7, 5, 3] },
  { acts: ['selu', 'selu', 'selu'], widths: [8, 3, 5] },
  { acts: ['sigmoid', 'relu', 'sigmoid'], widths: [4, 6, 3] },
  { acts: ['sigmoid', 'relu'], widths: [5, 4] },
  { acts: ['relu'], widths: [6] },
  // dies and saturates before the output: read as dying, yet prev_saturated needs its saturation
  { acts: ['tanh', 'relu6', 'relu'], widths: [5, 7, 4] },
  { acts: ['hardsigmoid', 'hardsigmoid', 'tanh'], widths: [3, 6, 3] },
];

const N = 97;
const CUTS: readonly (readonly number[])[] = [[97], [1, 7, 89], [32, 32, 32, 1], Array.from({ length: 97 }, () => 1)];

test('diagnosis add: memory-order loops give the rows of the input-order loops, for every layer kind and chunking', () => {
  for (const nan of [false, true]) for (const settings of [S, EXACT]) CASES.forEach(({ acts, widths }, c) => {
    const ev = evaluation(acts, widths, N, 11 + c, nan);
    const want = new ReferenceAccumulator(acts, widths, settings);
    for (const ch of chunks(ev, widths, [N])) want.add(ch);
    // a reference that makes grad_vanished apply to some inputs: GRAD_VANISHED × ref = 0.5
    const ref = widths.map(() => 0.5 / GRAD_VANISHED);
    const wantFirst = want.finish(null), wantLater = want.finish(ref);
    for (const cut of CUTS) {
      const got = new DiagnosisAccumulator(acts, widths, settings);
      for (const ch of chunks(ev, widths, cut)) got.add(ch);
      const what = `${acts.join('-')}${nan ? ' with NaN' : ''}${settings === EXACT ? ' on band edges' : ''} cut ${cut.length} chunks`;
      assertSameRows(got.finish(null), wantFirst, what);
      assertSameRows(got.finish(ref), wantLater, `${what} with a reference`);
    }
  });
});

test('diagnosis add: the random chunks reach every count (dead and saturated inputs, NaN, each cause)', () => {
  // guards the test above against data that never exercises a branch
  const seen = new Map<string, number>();
  for (const nan of [false, true]) CASES.forEach(({ acts, widths }, c) => {
    const acc = new ReferenceAccumulator(acts, widths, S);
    for (const ch of chunks(evaluation(acts, widths, N, 11 + c, nan), widths, [N])) acc.add(ch);
    for (const r of acc.finish(widths.map(() => 0.5 / GRAD_VANISHED)).rows) {
      const key = `${nan ? 'nan ' : ''}${r.layer === 0 ? '' : 'layer/'}${r.metric}`;
      if (r.value > 0 || (r.metric === Diag.meanDeriv && Number.isFinite(r.value))) seen.set(key, (seen.get(key) ?? 0) + 1);
    }
  });
  // the rounding tolerance is exercised (finite means) and so is NaN's propagation
  assert.ok(seen.has(`layer/${Diag.meanDeriv}`) && !seen.has(`nan layer/${Diag.meanDeriv}`));
  for (const m of [Diag.inactivePairs, Diag.deadInputs, Diag.majorityInactive, Diag.trueInactive, Diag.satPairs, Diag.satPairsStrict, Diag.satPairsLoose, Diag.satInputs]) {
    for (const nan of ['', 'nan ']) assert.ok(seen.has(`${nan}layer/${m}`), `no ${nan}case has ${m} > 0`);
  }
  for (const c of CAUSES) for (const nan of ['', 'nan ']) assert.ok(seen.has(`${nan}${inputShare(c)}`), `no ${nan}case has ${inputShare(c)} > 0`);
});
