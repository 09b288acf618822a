/**
 * What is wrong with a run, for any traced network (probe's own MLP, an attached tfjs model, a
 * PyTorch trace), from what every trace has: per-step probe rows, per-unit activity windows,
 * evaluations and, where the writer evaluated with labels, the diagnosis rows. The rules are in
 * diagnose-rules.ts (and README, "What is wrong"); this file only applies them.
 *
 *   one pass over the rows → per layer and span of steps: saturation, steps with an exactly-zero
 *   weight gradient, ‖dL/dz‖ and ‖dL/dz‖/loss; per unit: its activity windows; the steps with a
 *   value that is not finite → per layer: dead units, saturated, zero, vanishing, exploding,
 *   non-finite (each with the step since which it held) → the run: failing or not, and how that
 *   was decided → sentences, findings first in order of onset.
 *
 * Every reader shares it: `probe run` and `inspect` print it, the report, `watch` and `compare`
 * open with it.
 */
import type { Trace } from '../trace/reader.js';
import { RunProbe } from '../trace/schema.js';
import { activeUnitOf, DIAGNOSIS_PROBE, LayerErrorShare, Metric, UNIT_ACTIVITY_PROBE, unitOf } from '../trace/metrics.js';
import { ProbeId } from '../probes/ids.js';
import { canDie, canSaturate, layerActivation, specOf } from '../activations/index.js';
import { Diag } from '../study/study.js';
import {
  DEAD_SHARE, END_SHARE, EXPLODED, NEAR_CHANCE, RULE_TEXT, shareThreshold, SPANS, STUDY_EPOCHS, STUDY_TRAIN, VANISHED, ZERO_STEPS,
} from './diagnose-rules.js';

/** The saturation findings' thresholds: a hidden layer's sat_frac, the output's sat_wrong_frac (the lines the report draws). */
const SAT_AT = shareThreshold(Metric.satFrac, 'hidden'), SAT_WRONG_AT = shareThreshold(Metric.satWrongFrac, 'output');

export type FindingKind = 'non-finite' | 'dead' | 'zero-gradient' | 'saturated' | 'vanishing' | 'exploding';
/** The order of kinds with the same onset: what stops learning outright first. */
const KIND_ORDER: readonly FindingKind[] = ['non-finite', 'dead', 'zero-gradient', 'saturated', 'vanishing', 'exploding'];

export interface Finding {
  readonly kind: FindingKind;
  /** 0 = the network (a non-finite loss) */
  readonly layer: number;
  /** the step since which it held; null when not known */
  readonly since: number | null;
  /** share of the misclassified test inputs its per-input form applies to (last labelled evaluation); null: not measured */
  readonly errorShare: number | null;
  readonly text: string;
}

export interface LayerHealth {
  readonly layer: number;
  readonly activation: string;
  readonly units: number;
  readonly output: boolean;
  /** null: the layer cannot die, or its units' activity was not recorded */
  readonly dead: { readonly dead: number; readonly since: number | null; readonly first: number | null } | null;
  /**
   * sat_frac at the end: outputs at the extremes on either side; null: cannot saturate or not
   * recorded. On the output layer this is information, not a finding (a trained classifier's outputs
   * sit at the extremes the loss pushes them to): {@link satWrong} is.
   */
  readonly saturated: number | null;
  /** the output layer: sat_wrong_frac at the end, saturated on the side the loss pushes away from; null: not an output that can saturate, or not recorded */
  readonly satWrong: number | null;
  /** probed steps with an exactly-zero weight gradient, over the run and their share at the end; null: no gradients recorded */
  readonly zeroGrad: { readonly steps: number; readonly probed: number; readonly endShare: number } | null;
  /** ‖dL/dz‖ and ‖dL/dz‖/loss at the start and the end; null: not recorded */
  readonly gradient: { readonly startNorm: number; readonly endNorm: number; readonly startRatio: number; readonly endRatio: number } | null;
  /** probed steps with a value that is not finite, and the first; null when none */
  readonly nonFinite: { readonly steps: number; readonly first: number } | null;
}

export interface RunVerdict {
  /** null: not judged (no accuracy, or an output of one unit) */
  readonly failing: boolean | null;
  readonly accuracy: number | null;
  readonly source: 'test' | 'train batches' | null;
  readonly classes: number | null;
  /** at most this accuracy is near chance */
  readonly chanceLine: number | null;
  /** how it was decided, in words */
  readonly text: string;
}

export interface RunDiagnosis {
  readonly run: string;
  readonly status: string;
  /** probe's own MLP (false: an attached tfjs model or a PyTorch trace) */
  readonly own: boolean;
  readonly verdict: RunVerdict;
  /** the run's schedule against the study's, when it is one of probe's own runs and shorter */
  readonly short: { readonly samples: number; readonly study: number; readonly text: string } | null;
  readonly findings: readonly Finding[];
  readonly layers: readonly LayerHealth[];
  /** what could not be checked, and why */
  readonly notChecked: readonly string[];
  /** error rate at the last labelled evaluation, or why there are no shares of errors */
  readonly errors: { readonly rate: number | null; readonly note: string | null };
  /** the first sentence: the run and whether it fails */
  readonly headline: string;
  /** the findings (or "no pathology found") and notes, one sentence each */
  readonly lines: readonly string[];
  readonly rules: typeof RULE_TEXT;
}

const pct = (v: number) => `${v >= 0.9995 || v < 0.0005 ? (100 * v).toFixed(0) : v >= 0.1 ? (100 * v).toFixed(1) : (100 * v).toPrecision(2)}%`;
const int = (v: number) => v.toLocaleString('en-US');
const sig = (v: number) => (v === 0 ? '0' : Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4 ? String(+v.toPrecision(3)) : v.toExponential(1));

/** Steps of a run cut into spans; the last tenth of them is the end. */
interface Spans { readonly len: number; readonly count: number; readonly endFrom: number }

function spansOf(steps: number): Spans {
  const len = Math.max(1, Math.ceil(steps / SPANS));
  const count = Math.max(1, Math.ceil(steps / len));
  const end = Math.max(1, Math.round(count * END_SHARE));
  return { len, count, endFrom: count - end };
}

/** Per span: sum and count of a figure. */
class SpanSeries {
  readonly sum: Float64Array;
  readonly n: Float64Array;
  constructor(readonly sp: Spans) {
    this.sum = new Float64Array(sp.count);
    this.n = new Float64Array(sp.count);
  }
  add(step: number, v: number): void {
    const k = Math.min(this.sp.count - 1, Math.floor(step / this.sp.len));
    this.sum[k] += v;
    this.n[k]++;
  }
  get any(): boolean {
    return this.n.some((x) => x > 0);
  }
  /** mean over the end's probed steps; NaN without any */
  end(): number {
    let s = 0, n = 0;
    for (let k = this.sp.endFrom; k < this.sp.count; k++) { s += this.sum[k]; n += this.n[k]; }
    return n ? s / n : NaN;
  }
  /** mean over the first span with a value; NaN without any */
  start(): number {
    for (let k = 0; k < this.sp.count; k++) if (this.n[k] > 0) return this.sum[k] / this.n[k];
    return NaN;
  }
  /**
   * The first step of the earliest span from which `holds` was true for every span with a value
   * up to the end (the end judged as a whole by the caller): walking back from the span before
   * the end while it holds.
   */
  since(holds: (mean: number) => boolean): number {
    let since = this.sp.endFrom;
    for (let k = this.sp.endFrom - 1; k >= 0; k--) {
      if (this.n[k] === 0) continue;
      if (!holds(this.sum[k] / this.n[k])) break;
      since = k;
    }
    return since * this.sp.len;
  }
}

/**
 * The step from which a unit stays inactive (active share 0) until the end of the trace, if that
 * stretch covers at least a tenth of the probed windows (or 100 of them): a unit that is merely
 * quiet for the last few steps is not called dead.
 */
export function deathStep(steps: readonly number[], active: readonly number[]): number | null {
  let i = active.length;
  while (i > 0 && active[i - 1] === 0) i--;
  if (i === active.length) return null;
  const stretch = active.length - i;
  if (i > 0 && stretch < Math.min(100, Math.ceil(active.length / 10))) return null;
  return steps[i];
}

/** Probes whose rows are not per-step measurements. */
const NOT_STEP = new Set<string>([RunProbe.eval, RunProbe.timing, DIAGNOSIS_PROBE, UNIT_ACTIVITY_PROBE]);

/** Whether a trace was written by probe's own engine (not an attached tfjs model or a PyTorch loop). */
export const isOwnEngine = (engine: string) => engine !== 'attach' && engine !== 'pytorch';

export function diagnoseTrace(t: Trace): RunDiagnosis {
  const c = t.columns, f = t.facts, L = f.layers.length;
  const own = isOwnEngine(f.engine);
  const nm = c.metrics.length;
  const id = (m: string) => c.metrics.indexOf(m);
  const pid = (p: string) => c.probes.indexOf(p);
  const stepProbe = Uint8Array.from(c.probes, (p) => +!NOT_STEP.has(p));
  let maxStep = -1;
  for (let i = 0; i < c.length; i++) if (stepProbe[c.probe[i]] && c.step[i] > maxStep) maxStep = c.step[i];
  const steps = maxStep >= 0 ? maxStep + 1 : Math.max(1, t.progress?.stepsDone ?? 1);
  const sp = spansOf(steps);
  const satM = id(Metric.satFrac), satWrongM = id(Metric.satWrongFrac), wMaxM = id(Metric.wGradMax), zMaxM = id(Metric.zGradMax), zNormM = id(Metric.zGradNorm);
  const lossM = id(Metric.loss), accM = id(Metric.accuracy);
  const satP = pid(ProbeId.saturation), gradP = pid(ProbeId.gradients), lossP = pid(ProbeId.loss), unitP = pid(UNIT_ACTIVITY_PROBE);
  const evalP = pid(RunProbe.eval), diagP = pid(DIAGNOSIS_PROBE), testAccM = id('test_acc');
  const activeOf = Int32Array.from(c.metrics, activeUnitOf);
  // which layers record a weight gradient (else the zero test reads dL/dz)
  const hasW = new Uint8Array(L + 1);
  for (let i = 0; i < c.length; i++) if (c.probe[i] === gradP && c.metric[i] === wMaxM) hasW[c.layer[i]] = 1;

  const sat = Array.from({ length: L + 1 }, () => new SpanSeries(sp));
  const satWrong = new SpanSeries(sp);
  const zero = Array.from({ length: L + 1 }, () => new SpanSeries(sp));
  const norm = Array.from({ length: L + 1 }, () => new SpanSeries(sp));
  const zeroSteps = new Float64Array(L + 1), gradSteps = new Float64Array(L + 1);
  const acc = new SpanSeries(sp);
  const loss = new Float64Array(steps).fill(NaN);
  const zNorm = new Map<number, Float64Array>();
  const windows = new Map<number, { layer: number; unit: number; step: number[]; v: number[] }>();
  const perStepUnits = new Map<number, { layer: number; unit: number; step: number[]; v: number[] }>();
  const evals = new Map<number, number>();
  const diagEpochs = new Map<number, Map<string, number>>();
  // (layer, step) keys with a value that is not finite: counted again below against the layer's values at that step
  const bad = new Set<number>();
  for (let i = 0; i < c.length; i++) {
    const p = c.probe[i], m = c.metric[i], layer = c.layer[i], step = c.step[i], v = c.value[i];
    if (p === evalP) { if (m === testAccM) evals.set(c.epoch[i], v); continue; }
    if (p === diagP) {
      let e = diagEpochs.get(c.epoch[i]);
      if (!e) diagEpochs.set(c.epoch[i], (e = new Map()));
      e.set(`${layer}/${c.metrics[m]}`, v);
      continue;
    }
    if (p === unitP) {
      const k = layer * nm + m;
      let w = windows.get(k);
      if (!w) windows.set(k, (w = { layer, unit: unitOf(c.metrics[m]), step: [], v: [] }));
      w.step.push(step); w.v.push(v);
      continue;
    }
    if (!stepProbe[p]) continue;
    if (!Number.isFinite(v)) bad.add(layer * steps + step);
    if (p === satP && m === satM) { if (Number.isFinite(v)) sat[layer].add(step, v); continue; }
    if (p === satP && m === satWrongM && layer === L) { if (Number.isFinite(v)) satWrong.add(step, v); continue; }
    if (p === gradP) {
      if (m === (hasW[layer] ? wMaxM : zMaxM) && !Number.isNaN(v)) {
        gradSteps[layer]++;
        const z = v === 0 ? 1 : 0;
        zeroSteps[layer] += z;
        zero[layer].add(step, z);
      }
      if (m === zNormM && Number.isFinite(v)) {
        let a = zNorm.get(layer);
        if (!a) zNorm.set(layer, (a = new Float64Array(steps).fill(NaN)));
        a[step] = v;
        norm[layer].add(step, v);
      }
      continue;
    }
    if (p === lossP && layer === 0) {
      if (m === lossM) loss[step] = v;
      else if (m === accM && Number.isFinite(v)) acc.add(step, v);
      continue;
    }
    const unit = activeOf[m];
    if (unit >= 0) {
      const k = layer * nm + m;
      let u = perStepUnits.get(k);
      if (!u) perStepUnits.set(k, (u = { layer, unit, step: [], v: [] }));
      u.step.push(step); u.v.push(v);
    }
  }
  // ‖dL/dz‖ relative to the loss of its step
  const ratio = Array.from({ length: L + 1 }, () => new SpanSeries(sp));
  for (const [layer, a] of zNorm) for (let s = 0; s < steps; s++) {
    const g = a[s], l = loss[s];
    if (Number.isFinite(g) && Number.isFinite(l) && l > 0) ratio[layer].add(s, g / l);
  }
  // a step whose values of a layer are all NaN did not run through it (the attach path): not a non-finite value
  const nonFinite = new Map<number, { steps: number; first: number }>();
  if (bad.size) {
    const total = new Map<number, number>(), nan = new Map<number, number>(), inf = new Map<number, number>();
    for (let i = 0; i < c.length; i++) {
      if (!stepProbe[c.probe[i]]) continue;
      const k = c.layer[i] * steps + c.step[i];
      if (!bad.has(k)) continue;
      const v = c.value[i];
      total.set(k, (total.get(k) ?? 0) + 1);
      if (Number.isNaN(v)) nan.set(k, (nan.get(k) ?? 0) + 1);
      else if (!Number.isFinite(v)) inf.set(k, (inf.get(k) ?? 0) + 1);
    }
    for (const k of [...bad].sort((a, b) => a - b)) {
      const layer = Math.floor(k / steps), step = k % steps;
      const notRun = layer > 0 && !inf.get(k) && nan.get(k) === total.get(k);
      if (notRun) continue;
      const e = nonFinite.get(layer);
      if (e) e.steps++;
      else nonFinite.set(layer, { steps: 1, first: step });
    }
  }

  // the last labelled evaluation
  const lastEval = [...diagEpochs.keys()].sort((a, b) => a - b).at(-1);
  const diag = lastEval === undefined ? null : (diagEpochs.get(lastEval) as Map<string, number>);
  const errorRate = diag?.get(`0/${Diag.errors}`);
  const share = (layer: number, m: LayerErrorShare): number | null => {
    const v = diag?.get(`${layer}/${m}`);
    return v === undefined || !Number.isFinite(v) ? null : v;
  };
  const hasShares = diag !== null && [...diag.keys()].some((k) => k.endsWith(`/${LayerErrorShare.gradZero}`));
  let errorsNote: string | null = null;
  if (diag === null) {
    errorsNote = !own
      ? 'no labelled evaluation in this trace (probe evaluates only its own runs with labels), so no finding has a share of errors'
      : evals.size > 0 ? 'no evaluation diagnosis in this trace (written by an older probe): no shares of errors'
        : 'the run stopped before its first evaluation: no shares of errors';
  } else if (!hasShares) {
    errorsNote = own ? 'this trace predates per-layer shares of errors (written by an older probe)' : `its writer (${f.engine}) records no per-layer shares of errors, so no finding has one`;
  } else if (errorRate === 0) {
    errorsNote = 'no misclassified test input at the last evaluation';
  }

  // per layer
  const layers: LayerHealth[] = [];
  const findings: Finding[] = [];
  const notChecked: string[] = [];
  const byLayerUnits = (src: Map<number, { layer: number; unit: number; step: number[]; v: number[] }>, layer: number) => [...src.values()].filter((w) => w.layer === layer);
  const deathsWanted: number[] = [];
  for (let l = 1; l <= L; l++) {
    const lf = f.layers[l - 1], act = layerActivation(lf), spec = specOf(act), units = lf.fanOut, output = l === L;
    const name = `layer ${l} (${act}${output ? ', output' : ''})`;
    // dead units: the windows, or else the per-step active share of small layers
    let dead: LayerHealth['dead'] = null;
    const ws = byLayerUnits(windows, l);
    const us = ws.length ? ws : byLayerUnits(perStepUnits, l);
    if (us.length) {
      const when = us.map((u) => deathStep(u.step, u.v)).filter((s): s is number => s !== null).sort((a, b) => a - b);
      const need = Math.max(1, Math.ceil(DEAD_SHARE * units));
      dead = { dead: when.length, since: when.length >= need ? when[need - 1] : null, first: when[0] ?? null };
      if (when.length >= need) {
        const es = share(l, LayerErrorShare.mostOff);
        findings.push({
          kind: 'dead', layer: l, since: dead.since, errorShare: es,
          text: `${name}: ${int(when.length)} of ${int(units)} units dead for every input since step ${int(dead.since as number)}${when.length > need && (dead.first as number) < (dead.since as number) ? ` (the first at step ${int(dead.first as number)})` : ''}${es !== null ? ` — most of its units are off for ${pct(es)} of the misclassified test inputs` : ''}`,
        });
      }
    } else if (spec && canDie(spec)) deathsWanted.push(l);
    // saturation: a hidden layer's at either extreme; the output layer's on the wrong side only
    let saturated: number | null = null, wrong: number | null = null;
    if (output && satWrong.any) {
      wrong = satWrong.end();
      if (wrong > SAT_WRONG_AT) {
        const since = satWrong.since((m) => m > SAT_WRONG_AT);
        // no share of errors: the evaluation's per-input form (layer_err_most_sat) counts either extreme
        findings.push({
          kind: 'saturated', layer: l, since, errorShare: null,
          text: `${name}: ${pct(wrong)} of its outputs saturated on the wrong side at the end (at an extreme the loss pushes them away from, where the vanished derivative keeps them), most of them since step ${int(since)}`,
        });
      }
    }
    if (sat[l].any) saturated = sat[l].end();
    if (saturated !== null && !output && saturated > SAT_AT) {
      const since = sat[l].since((m) => m > SAT_AT), es = share(l, LayerErrorShare.mostSat);
      findings.push({
        kind: 'saturated', layer: l, since, errorShare: es,
        text: `${name}: ${pct(saturated)} of its outputs at the extremes at the end, most of them since step ${int(since)}${es !== null ? ` — most of its units are at their extremes for ${pct(es)} of the misclassified test inputs` : ''}`,
      });
    }
    // gradients: exactly zero, vanishing, exploding
    let zeroGrad: LayerHealth['zeroGrad'] = null;
    let zeroFinding = false;
    if (gradSteps[l] > 0) {
      zeroGrad = { steps: zeroSteps[l], probed: gradSteps[l], endShare: zero[l].end() };
      if (zeroGrad.endShare > ZERO_STEPS) {
        zeroFinding = true;
        const since = zero[l].since((m) => m > ZERO_STEPS), es = share(l, LayerErrorShare.gradZero);
        findings.push({
          kind: 'zero-gradient', layer: l, since, errorShare: es,
          text: `${name}: its ${hasW[l] ? 'weight ' : ''}gradient is exactly 0 at ${int(zeroGrad.steps)} of ${int(zeroGrad.probed)} probed steps (${pct(zeroGrad.endShare)} of those at the end), since step ${int(since)} — it does not learn${es !== null ? `; the gradient of ${pct(es)} of the misclassified test inputs is exactly 0 there` : ''}`,
        });
      }
    }
    let gradient: LayerHealth['gradient'] = null;
    if (norm[l].any) {
      gradient = { startNorm: norm[l].start(), endNorm: norm[l].end(), startRatio: ratio[l].start(), endRatio: ratio[l].end() };
      const r0 = gradient.startRatio, r1 = gradient.endRatio;
      if (!zeroFinding && Number.isFinite(r0) && r0 > 0 && Number.isFinite(r1) && r1 < VANISHED * r0) {
        const since = ratio[l].since((m) => m < VANISHED * r0), es = share(l, LayerErrorShare.gradVanished);
        findings.push({
          kind: 'vanishing', layer: l, since, errorShare: es,
          text: `${name}: the gradient reaching it fell to ${sig(r1 / r0)} of its size at the start relative to the loss (‖dL/dz‖/loss ${sig(r0)} → ${sig(r1)}), below ${VANISHED} since step ${int(since)}${es !== null ? ` — for ${pct(es)} of the misclassified test inputs it is below ${VANISHED} of its size before training` : ''}`,
        });
      }
      const g0 = gradient.startNorm, g1 = gradient.endNorm;
      if (Number.isFinite(g0) && g0 > 0 && Number.isFinite(g1) && g1 > EXPLODED * g0) {
        const since = norm[l].since((m) => m > EXPLODED * g0);
        findings.push({
          kind: 'exploding', layer: l, since, errorShare: null,
          text: `${name}: the gradient reaching it grew ${sig(g1 / g0)}× (‖dL/dz‖ ${sig(g0)} → ${sig(g1)}), above ${EXPLODED}× since step ${int(since)}`,
        });
      }
    }
    const nf = nonFinite.get(l) ?? null;
    if (nf) findings.push({ kind: 'non-finite', layer: l, since: nf.first, errorShare: null, text: `${name}: values that are not finite numbers (NaN or ±∞) at ${int(nf.steps)} probed step(s), the first at step ${int(nf.first)}` });
    layers.push({ layer: l, activation: act, units, output, dead, saturated, satWrong: wrong, zeroGrad, gradient, nonFinite: nf });
  }
  const lossBad = nonFinite.get(0);
  const diverged = t.progress?.diverged ?? null;
  if (lossBad || diverged) {
    const first = Math.min(lossBad?.first ?? Infinity, diverged?.step ?? Infinity);
    findings.push({ kind: 'non-finite', layer: 0, since: first, errorShare: null, text: `the network: ${diverged ? `diverged at step ${int(diverged.step)} (${diverged.reason})` : `a loss that is not a finite number at ${int(lossBad!.steps)} probed step(s), the first at step ${int(lossBad!.first)}`}` });
  }
  findings.sort((a, b) => (a.since ?? Infinity) - (b.since ?? Infinity) || KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) || b.layer - a.layer);
  const recorded = new Set(c.probes.filter((_, p) => stepProbe[p] || p === unitP));
  if (deathsWanted.length) notChecked.push(`dead units of layer${deathsWanted.length > 1 ? 's' : ''} ${deathsWanted.join(', ')} (no unit-activity rows)`);
  const canSat = f.layers.map((lf, i) => ({ l: i + 1, spec: specOf(layerActivation(lf)) })).filter((x) => x.spec && canSaturate(x.spec) && !sat[x.l].any).map((x) => x.l);
  if (canSat.length) notChecked.push(`saturation of layer${canSat.length > 1 ? 's' : ''} ${canSat.join(', ')} (${recorded.has(ProbeId.saturation) ? 'no rows' : 'the saturation probe was off'})`);
  // an output layer with plain saturation rows but no wrong-side ones: never judged by the plain share
  if (L > 0 && sat[L].any && !satWrong.any) notChecked.push(`wrong-side saturation of the output layer ${L} (no measured ${Metric.satWrongFrac}: a trace written before it existed, or a writer that did not see the gradient at the output, dL/da; its ${Metric.satFrac} at the extremes is not a finding on an output layer)`);
  if (!recorded.has(ProbeId.gradients)) notChecked.push('zero, vanishing and exploding gradients (the gradients probe was off)');
  else if (!recorded.has(ProbeId.loss)) notChecked.push('vanishing gradients (no loss per step to relate them to)');

  // the verdict: near chance, or diverged
  const classes = L > 0 && f.layers[L - 1].fanOut >= 2 ? f.layers[L - 1].fanOut : null;
  const finalEpoch = [...evals.keys()].sort((a, b) => a - b).at(-1);
  const testAcc = finalEpoch === undefined ? null : (evals.get(finalEpoch) as number);
  const accuracy = testAcc ?? (acc.any ? acc.end() : null);
  const source: RunVerdict['source'] = testAcc !== null ? 'test' : accuracy !== null ? 'train batches' : null;
  const chanceLine = classes === null ? null : 1 / classes + NEAR_CHANCE;
  const where = source === 'test' ? `test accuracy ${pct(accuracy as number)}` : `accuracy on the training batches at the end ${pct(accuracy ?? NaN)} (no test evaluation)`;
  let verdict: RunVerdict;
  if (diverged) {
    verdict = { failing: true, accuracy, source, classes, chanceLine, text: `failing: it diverged at step ${int(diverged.step)} (${diverged.reason})` };
  } else if (accuracy === null || classes === null || chanceLine === null) {
    verdict = { failing: null, accuracy, source, classes, chanceLine, text: accuracy === null ? 'not judged: no accuracy recorded' : 'not judged: an output of one unit has no chance level' };
  } else if (Math.fround(accuracy) <= Math.fround(chanceLine)) {
    // compared at the trace's float32 precision: a stored 0.2 is 0.2000000030
    verdict = { failing: true, accuracy, source, classes, chanceLine, text: `failing: ${where} is at or near chance (${classes} classes: at most 1/${classes} + ${100 * NEAR_CHANCE} points = ${pct(chanceLine)})` };
  } else {
    verdict = { failing: false, accuracy, source, classes, chanceLine, text: `learning: ${where}, above chance (${classes} classes: ${pct(1 / classes)}; near chance is at most ${pct(chanceLine)})` };
  }
  const samples = (t.config.epochs ?? t.progress?.epochsDone ?? 0) * f.dataset.trainSize;
  const studySamples = STUDY_EPOCHS * STUDY_TRAIN;
  const short = own && samples > 0 && samples < studySamples
    ? { samples, study: studySamples, text: `a short run: ${int(samples)} training samples (${t.config.epochs ?? '?'} epoch${t.config.epochs === 1 ? '' : 's'} of ${int(f.dataset.trainSize)}), the study's schedule is ${int(studySamples)} (${STUDY_EPOCHS} of ${int(STUDY_TRAIN)})` }
    : null;
  const headline = `${t.run}: ${verdict.text}`;
  const lines: string[] = findings.map((x) => x.text);
  if (findings.length === 0) {
    const small = layers.filter((x) => x.dead && x.dead.dead > 0).map((x) => `${x.dead!.dead} of ${x.units} units of layer ${x.layer} dead (the first at step ${int(x.dead!.first as number)})`);
    lines.push(`no pathology found by the rules: no layer with ${pct(DEAD_SHARE)} of its units dead, saturated, with an exactly-zero, vanishing or exploding gradient, or with values that are not finite${small.length ? `; ${small.join('; ')}` : ''}`);
  }
  if (notChecked.length) lines.push(`not checked: ${notChecked.join('; ')}`);
  if (errorsNote && (findings.length > 0 || diag === null)) lines.push(errorsNote);
  if (short) lines.push(short.text);
  return {
    run: t.run, status: t.status, own, verdict, short, findings, layers, notChecked,
    errors: { rate: errorRate !== undefined && Number.isFinite(errorRate) ? errorRate : null, note: errorsNote },
    headline, lines, rules: RULE_TEXT,
  };
}

/** The diagnosis as text: the headline, then one indented line per sentence. */
export function diagnosisText(d: RunDiagnosis, indent = '  '): string {
  return [d.headline, ...d.lines.map((l) => indent + l)].join('\n');
}

