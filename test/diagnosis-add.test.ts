/**
 * The diagnosis accumulator (chunked, memory-order, branch-free loops, then finish()) against each
 * row computed from its definition over the whole set, input by input: random chunks with every
 * kind of layer, NaN entries, inputs whose units are all inactive or all saturated, and several
 * ways to cut the test set into chunks. Every count-derived row must be identical; `mean_deriv`
 * is a float64 sum taken in another order (and as the spec's mean times the entries), so it may
 * differ by rounding: 1e-12 relative.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canDie, canSaturate, specOf, type ActivationSpec, type SatThresholds } from '../src/activations/index.js';
import { DiagnosisAccumulator, type DiagnosisResult, type EvalChunk } from '../src/study/diagnosis.js';
import { DEFAULT_PROBE_SETTINGS } from '../src/probes/probe.js';
import { rng } from '../src/train/rng.js';
import { LayerErrorShare } from '../src/trace/metrics.js';
import { Cause, CAUSE_INFO, CAUSES, CAUSE_SETS, Diag, errorCell, errorShare, GRAD_VANISHED, inputShare, MOST, SAT_LOOSE, SAT_STRICT } from '../src/study/study.js';

// ---- the reference: every row from its definition (src/study/study.ts), over the whole set ----
interface Band { readonly lo: number; readonly hi: number }
/** The outputs counted as saturated under thresholds `t`, or null for an activation that cannot saturate. */
function band(spec: ActivationSpec, t: SatThresholds): Band | null {
  if (!canSaturate(spec)) return null;
  return { lo: spec.saturation.low(t), hi: spec.saturation.high ? spec.saturation.high(t) : Infinity };
}
const outside = (v: number, b: Band) => v < b.lo || v > b.hi;
const count = (n: number, pred: (i: number) => boolean) => { let c = 0; for (let i = 0; i < n; i++) if (pred(i)) c++; return c; };
type Evaluation = ReturnType<typeof evaluation>;

/**
 * The diagnosis of one evaluation as its definitions state it, input by input, with no running
 * sums: the accumulator's chunked, memory-order loops and its finish() must agree with it.
 */
function fromDefinitions(ev: Evaluation, acts: readonly string[], widths: readonly number[], t: SatThresholds, gradRef: readonly number[] | null): DiagnosisResult {
  const N = ev.labels.length, L = acts.length;
  const specs = acts.map((a) => specOf(a)!);
  const at = (l: number, kind: 'z' | 'a', u: number, x: number) => ev.layers[l][kind][u * N + x];
  const rows: { layer: number; metric: string; value: number }[] = [];
  const put = (layer: number, metric: string, value: number) => rows.push({ layer, metric, value });
  // mean of the per-input gradient norms, summed in input order
  const gradMeans = ev.layers.map((Ly) => { let s = 0; for (let x = 0; x < N; x++) s += Ly.gradNorm[x]; return s / N; });
  const ref = gradRef ?? gradMeans;
  const off = (l: number, u: number, x: number) => at(l, 'z', u, x) <= (specs[l] as { death: { zAtMost: number } }).death.zAtMost;
  const satCount = (l: number, x: number, b: Band) => count(widths[l], (u) => outside(at(l, 'a', u, x), b));
  specs.forEach((spec, l) => {
    const U = widths[l], pairs = N * U;
    if (canDie(spec)) {
      let inactive = 0;
      for (let x = 0; x < N; x++) inactive += count(U, (u) => off(l, u, x));
      put(l + 1, Diag.inactivePairs, inactive / pairs);
      put(l + 1, Diag.deadInputs, count(N, (x) => count(U, (u) => off(l, u, x)) === U) / N);
      put(l + 1, Diag.majorityInactive, count(N, (x) => count(U, (u) => off(l, u, x)) > MOST * U) / N);
      if (l === L - 1) put(l + 1, Diag.trueInactive, count(N, (x) => off(l, ev.labels[x], x)) / N);
    } else if (canSaturate(spec)) {
      const run = band(spec, t)!, strict = band(spec, SAT_STRICT)!, loose = band(spec, SAT_LOOSE)!;
      const pairsOutside = (b: Band) => { let c = 0; for (let x = 0; x < N; x++) c += satCount(l, x, b); return c; };
      put(l + 1, Diag.satPairs, pairsOutside(run) / pairs);
      put(l + 1, Diag.satPairsStrict, pairsOutside(strict) / pairs);
      put(l + 1, Diag.satPairsLoose, pairsOutside(loose) / pairs);
      put(l + 1, Diag.satInputs, count(N, (x) => satCount(l, x, run) > MOST * U) / N);
      let deriv = 0;
      for (let x = 0; x < N; x++) for (let u = 0; u < U; u++) deriv += spec.df(at(l, 'z', u, x), at(l, 'a', u, x));
      put(l + 1, Diag.meanDeriv, deriv / pairs);
    }
    put(l + 1, Diag.gradNorm, gradMeans[l]);
    put(l + 1, Diag.gradRatio, ref[l] > 0 ? gradMeans[l] / ref[l] : NaN);
  });
  // each input: misclassified (first arg-max of the output), and which causes apply to it
  const out = L - 1, classes = widths[out], prev = L - 2;
  const wrong = (x: number) => {
    let best = -Infinity, arg = 0;
    for (let k = 0; k < classes; k++) if (at(out, 'a', k, x) > best) { best = at(out, 'a', k, x); arg = k; }
    return arg !== ev.labels[x];
  };
  const prevBand = prev >= 0 ? band(specs[prev], t) : null;
  const causes: Record<Cause, (x: number) => boolean> = {
    [Cause.trueUnitOff]: (x) => canDie(specs[out]) && off(out, ev.labels[x], x),
    [Cause.prevSaturated]: (x) => prevBand !== null && satCount(prev, x, prevBand) > MOST * widths[prev],
    [Cause.gradVanished]: (x) => prev >= 0 && ev.layers[prev].gradNorm[x] < GRAD_VANISHED * ref[prev],
  };
  const errors = count(N, wrong);
  // per layer, over the misclassified inputs: most units off / at the run's extremes, a gradient exactly 0 / vanished
  const ofErrors = (pred: (x: number) => boolean) => (errors ? count(N, (x) => wrong(x) && pred(x)) / errors : NaN);
  specs.forEach((spec, l) => {
    const U = widths[l], runBand = band(spec, t), g = ev.layers[l].gradNorm;
    if (canDie(spec)) put(l + 1, LayerErrorShare.mostOff, ofErrors((x) => count(U, (u) => off(l, u, x)) > MOST * U));
    if (runBand) put(l + 1, LayerErrorShare.mostSat, ofErrors((x) => satCount(l, x, runBand) > MOST * U));
    put(l + 1, LayerErrorShare.gradZero, ofErrors((x) => g[x] === 0));
    put(l + 1, LayerErrorShare.gradVanished, ref[l] > 0 ? ofErrors((x) => g[x] < GRAD_VANISHED * ref[l]) : NaN);
  });
  put(0, Diag.errors, errors / N);
  for (const c of CAUSES) {
    const na = !CAUSE_INFO[c].applies(acts);
    put(0, inputShare(c), na ? NaN : count(N, causes[c]) / N);
    put(0, errorShare(c), na || !errors ? NaN : count(N, (x) => wrong(x) && causes[c](x)) / errors);
  }
  for (const set of CAUSE_SETS) {
    const exactly = (x: number) => CAUSES.every((c) => causes[c](x) === set.includes(c));
    put(0, errorCell(set), errors ? count(N, (x) => wrong(x) && exactly(x)) / errors : NaN);
  }
  return { rows, gradMeans };
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
    // some inputs whose gradient is exactly 0 (every output unit off), some NaN
    const gradNorm = Float32Array.from({ length: N }, () => { const p = r.float(); return p < 0.03 ? NaN : p < 0.06 ? 0 : r.float(); });
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

test('diagnosis add: the chunked memory-order accumulator gives every row as its definition states it, for every layer kind and chunking', () => {
  for (const nan of [false, true]) for (const settings of [S, EXACT]) CASES.forEach(({ acts, widths }, c) => {
    const ev = evaluation(acts, widths, N, 11 + c, nan);
    // a reference that makes grad_vanished apply to some inputs: GRAD_VANISHED × ref = 0.5
    const ref = widths.map(() => 0.5 / GRAD_VANISHED);
    const wantFirst = fromDefinitions(ev, acts, widths, settings, null), wantLater = fromDefinitions(ev, acts, widths, settings, ref);
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
    for (const r of fromDefinitions(evaluation(acts, widths, N, 11 + c, nan), acts, widths, S, widths.map(() => 0.5 / GRAD_VANISHED)).rows) {
      const key = `${nan ? 'nan ' : ''}${r.layer === 0 ? '' : 'layer/'}${r.metric}`;
      if (r.value > 0 || (r.metric === Diag.meanDeriv && Number.isFinite(r.value))) seen.set(key, (seen.get(key) ?? 0) + 1);
    }
  });
  // the rounding tolerance is exercised (finite means) and so is NaN's propagation
  assert.ok(seen.has(`layer/${Diag.meanDeriv}`) && !seen.has(`nan layer/${Diag.meanDeriv}`));
  for (const m of [Diag.inactivePairs, Diag.deadInputs, Diag.majorityInactive, Diag.trueInactive, Diag.satPairs, Diag.satPairsStrict, Diag.satPairsLoose, Diag.satInputs, ...Object.values(LayerErrorShare)]) {
    for (const nan of ['', 'nan ']) assert.ok(seen.has(`${nan}layer/${m}`), `no ${nan}case has ${m} > 0`);
  }
  for (const c of CAUSES) for (const nan of ['', 'nan ']) assert.ok(seen.has(`${nan}${inputShare(c)}`), `no ${nan}case has ${inputShare(c)} > 0`);
});
