/**
 * Synthetic traces with chosen figures: the report's verdict logic is tested on runs built so
 * that H1 holds or not, H2 holds or not, without training anything.
 */
import { join } from 'node:path';
import { TraceWriter } from '../src/trace/writer.js';
import { MetaKey, RunProbe, RunStatus, type RunFacts, type RunProgress } from '../src/trace/schema.js';
import { rng } from '../src/train/rng.js';
import { Cause, CAUSE_SETS, Diag, errorCell, errorShare, inputShare } from '../src/study/study.js';
import { DIAGNOSIS_METRICS } from '../src/study/diagnosis.js';
import { DIAGNOSIS_PROBE, quantileMetric, QUANTILES, UNIT_ACTIVITY_PROBE, UNIT_WINDOWS_PER_EPOCH, unitMetric } from '../src/trace/metrics.js';
import { DEFAULT_EVERY } from '../src/config.js';
import { DEFAULT_PROBE_SETTINGS } from '../src/probes/probe.js';

export interface SyntheticRun {
  readonly combo: string;
  readonly seed: number;
  /** final test accuracy */
  readonly acc: number;
  /** output layer dead_rows (relu outputs only) */
  readonly deadRows?: number;
  /** sat_frac of the layer before the output (non-relu only); also H2's measure at evaluation */
  readonly sat?: number;
  /** H1's measure at evaluation (output (input, unit) pairs with z ≤ 0); default deadRows */
  readonly h1?: number;
  /** share of errors covered by true_unit_off / prev_saturated at the last evaluation; default 0.1 */
  readonly h1Cause?: number;
  readonly h2Cause?: number;
  /** --bn setting recorded in the config */
  readonly bn?: string;
  /** --intervention recorded in the config (out-linear and out-leaky also change the output layer's activation) */
  readonly intervention?: string;
  /** no diagnosis rows (a trace from before they existed) */
  readonly noDiagnosis?: boolean;
  /** per output unit, the step from which it is dead (unit-activity windows of 5 steps) */
  readonly deathSteps?: readonly (number | null)[];
  readonly epochs?: number;
  readonly stepsPerEpoch?: number;
  /** probes recorded; default all */
  readonly probes?: readonly string[];
  /** stop writing after this many epochs, leaving the trace as if killed */
  readonly killAfter?: number;
  /** per-step metrics written as NaN at every step (a probe that measured nothing finite) */
  readonly nanMetrics?: readonly string[];
  /** per-step metrics written with this value at every step (Infinity, say: an overflowed norm) */
  readonly fixed?: Readonly<Record<string, number>>;
  /**
   * `real`: the rows a default `probe run` writes (saturation, dead-relu, gradients every
   * DEFAULT_EVERY steps, loss every step, distribution every 25, unit-activity windows of every
   * ReLU layer at its real width): traces of real size for the benchmarks. Default: every probe on
   * every step, distribution every 5.
   */
  readonly layout?: 'real';
}

const METRICS = {
  loss: ['loss', 'accuracy'],
  'dead-relu': ['inactive_frac', 'dead_units', 'dead_rows', ...Array.from({ length: 10 }, (_, k) => `active_u${k}`)],
  saturation: ['sat_frac', 'sat_low', 'sat_high', 'mean_deriv'],
  gradients: ['w_grad_norm', 'w_grad_max', 'b_grad_norm', 'b_grad_max', 'z_grad_norm', 'z_grad_max', 'update_ratio'],
  distribution: [...(['z', 'a'] as const).flatMap((of) => QUANTILES.map((p) => quantileMetric(of, p)))],
} as const;

export function writeSyntheticTrace(dir: string, s: SyntheticRun): string {
  const acts = s.combo.split('-');
  if (s.intervention === 'out-linear') acts[acts.length - 1] = 'linear';
  if (s.intervention === 'out-leaky') acts[acts.length - 1] = 'leakyrelu';
  const epochs = s.epochs ?? 3, spe = s.stepsPerEpoch ?? 20;
  const probes = s.probes ?? ['loss', 'saturation', 'dead-relu', 'gradients', 'distribution'];
  const real = s.layout === 'real';
  const run = `${s.combo}${s.bn && s.bn !== 'none' ? `_bn-${s.bn}` : ''}${s.intervention ? `_${s.intervention}` : ''}_s${s.seed}`;
  const path = join(dir, `${run}.arrow`);
  const sizes = [784, 500, 256, 10];
  const facts: RunFacts = {
    run, combo: s.combo, seed: s.seed, backend: 'synthetic', engine: 'synthetic', versions: {}, startedAt: '2026-01-01T00:00:00Z',
    host: { platform: 'linux', arch: 'x64', cpus: 2 }, dataset: { name: 'synthetic', source: '', trainSize: spe * 32, testSize: 100 },
    layers: acts.map((activation, i) => ({ layer: i + 1, activation, fanIn: sizes[i], fanOut: sizes[i + 1] })), stepsPerEpoch: spe,
  };
  const prog = (status: RunStatus, done: number): RunProgress => ({ status, epochsDone: done, stepsDone: done * spe, updatedAt: '', endedAt: null, epochSeconds: [], probeOverhead: null, writeOverhead: null });
  const w = TraceWriter.create(path, {
    run, probes: [...probes, RunProbe.eval, RunProbe.timing, DIAGNOSIS_PROBE, UNIT_ACTIVITY_PROBE],
    metrics: [...new Set([...Object.values(METRICS).flat(), 'test_loss', 'test_acc', 'train_loss', 'epoch_seconds', 'probe_seconds', 'write_seconds', ...DIAGNOSIS_METRICS, ...Array.from({ length: real ? Math.max(...sizes.slice(1)) : 10 }, (_, k) => unitMetric(k))])],
    metadata: { [MetaKey.config]: { combo: s.combo, seed: s.seed, epochs, probes, ...(s.bn ? { bn: s.bn } : {}), ...(s.intervention ? { intervention: s.intervention } : {}) }, [MetaKey.facts]: facts },
  }, prog(RunStatus.running, 0));
  const every = real ? DEFAULT_EVERY : 1, distEvery = real ? DEFAULT_PROBE_SETTINGS.distributionEvery : 5;
  const windowSteps = real ? Math.max(1, Math.ceil(spe / UNIT_WINDOWS_PER_EPOCH)) : 5;
  const r = rng(s.seed, `synthetic-${s.combo}`);
  const noise = () => (r.float() - 0.5) * 0.02;
  const clamp = (v: number) => Math.min(1, Math.max(0, v));
  const unitIds = real ? Array.from({ length: Math.max(...sizes.slice(1)) }, (_, k) => w.metricId(unitMetric(k))) : [];
  const L = acts.length;
  const diagnosis = (step: number, e: number) => {
    if (s.noDiagnosis) return;
    const d = w.probeId(DIAGNOSIS_PROBE);
    const put = (layer: number, metric: string, v: number) => w.append(step, e, layer, d, w.metricId(metric), v);
    const grow = e / epochs; // figures reach their final value at the last evaluation
    const h1 = s.h1 ?? s.deadRows;
    if (acts[L - 1] === 'relu' && h1 !== undefined) {
      put(L, Diag.inactivePairs, clamp(0.5 + (h1 - 0.5) * grow));
      put(L, Diag.deadInputs, clamp(h1 * h1 * grow));
      put(L, Diag.majorityInactive, clamp(h1 * grow));
      put(L, Diag.trueInactive, clamp(h1 * grow));
    }
    if (acts[L - 2] !== 'relu' && s.sat !== undefined) {
      put(L - 1, Diag.satPairs, clamp(s.sat * grow));
      put(L - 1, Diag.satPairsStrict, clamp(s.sat * 0.8 * grow));
      put(L - 1, Diag.satPairsLoose, clamp(Math.min(1, s.sat * 1.1) * grow));
      put(L - 1, Diag.satInputs, clamp(s.sat * grow));
    }
    const err = e === 0 ? 0.9 : 1 - s.acc;
    put(0, Diag.errors, err);
    const c1 = e === 0 ? 0.1 : s.h1Cause ?? 0.1, c2 = e === 0 ? 0.1 : s.h2Cause ?? 0.1;
    put(0, errorShare(Cause.trueUnitOff), c1); put(0, inputShare(Cause.trueUnitOff), c1 * err);
    put(0, errorShare(Cause.prevSaturated), c2); put(0, inputShare(Cause.prevSaturated), c2 * err);
    put(0, errorShare(Cause.gradVanished), 0); put(0, inputShare(Cause.gradVanished), 0);
    // the cells of the Venn diagram, causes independent
    for (const set of CAUSE_SETS) {
      if (set.includes(Cause.gradVanished)) { put(0, errorCell(set), 0); continue; }
      const p1 = set.includes(Cause.trueUnitOff) ? c1 : 1 - c1, p2 = set.includes(Cause.prevSaturated) ? c2 : 1 - c2;
      put(0, errorCell(set), p1 * p2);
    }
  };
  diagnosis(0, 0);
  let step = 0;
  for (let e = 1; e <= epochs; e++) {
    if (s.killAfter !== undefined && e > s.killAfter) return path; // never closed, as after kill -9
    for (let k = 0; k < spe; k++, step++) {
      const put = (layer: number, probe: string, metric: string, v: number) => w.append(step, e, layer, w.probeId(probe), w.metricId(metric), s.nanMetrics?.includes(metric) ? NaN : s.fixed?.[metric] ?? v);
      if (probes.includes('loss')) { put(0, 'loss', 'loss', 2.3 * (1 - s.acc) + noise()); put(0, 'loss', 'accuracy', clamp(s.acc + noise())); }
      acts.forEach((a, i) => {
        if (step % every !== 0) return;
        const l = i + 1, out = l === acts.length;
        if (a === 'relu' && probes.includes('dead-relu')) {
          const dr = out && s.deadRows !== undefined ? clamp(s.deadRows + noise()) : 0;
          put(l, 'dead-relu', 'inactive_frac', clamp(0.5 + dr / 2)); put(l, 'dead-relu', 'dead_units', dr); put(l, 'dead-relu', 'dead_rows', dr);
          if (out) for (let u = 0; u < 10; u++) put(l, 'dead-relu', `active_u${u}`, u < 10 * (s.deadRows ?? 0) && step > 5 ? 0 : 0.5);
        }
        if (a !== 'relu' && probes.includes('saturation')) {
          const sat = l === acts.length - 1 && s.sat !== undefined ? clamp(s.sat + noise()) : 0.05;
          put(l, 'saturation', 'sat_frac', sat); put(l, 'saturation', 'sat_low', sat / 2); put(l, 'saturation', 'sat_high', sat / 2); put(l, 'saturation', 'mean_deriv', 0.25 * (1 - sat));
        }
        if (probes.includes('gradients')) for (const m of METRICS.gradients) put(l, 'gradients', m, 0.01 * (1 + noise()));
        // quantiles every 5 steps: z drifts down on a dead output ReLU, a spreads towards 0/1 with saturation
      });
      acts.forEach((a, i) => {
        const l = i + 1, out = l === acts.length;
        if (probes.includes('distribution') && step % distEvery === 0) {
          const shift = out && a === 'relu' ? -2 * (s.deadRows ?? 0) * (step / (epochs * spe)) : 0;
          QUANTILES.forEach((p) => {
            const zq = shift + 3 * (p / 100 - 0.5);
            put(l, 'distribution', quantileMetric('z', p), zq);
            put(l, 'distribution', quantileMetric('a', p), a === 'relu' ? Math.max(zq, 0) : a === 'sigmoid' ? 1 / (1 + Math.exp(-zq)) : Math.tanh(zq));
          });
        }
      });
    }
    if (s.deathSteps && acts[L - 1] === 'relu') {
      const ua = w.probeId(UNIT_ACTIVITY_PROBE);
      for (let st = step - spe; st < step; st += windowSteps) s.deathSteps.forEach((d, u) => w.append(st, e, L, ua, w.metricId(unitMetric(u)), d !== null && st >= d ? 0 : 0.4));
    }
    if (real) {
      // every ReLU layer's units at their real width, one row per unit and window
      const ua = w.probeId(UNIT_ACTIVITY_PROBE);
      acts.forEach((a, i) => {
        const l = i + 1;
        if (a !== 'relu' || (s.deathSteps && l === L)) return;
        const deadShare = l === L ? s.deadRows ?? 0 : 0.02;
        for (let st = step - spe; st < step; st += windowSteps) for (let u = 0; u < sizes[l]; u++) w.append(st, e, l, ua, unitIds[u], u < deadShare * sizes[l] ? 0 : clamp(0.4 + noise()));
      });
    }
    const ev = w.probeId(RunProbe.eval);
    w.append(step, e, 0, ev, w.metricId('test_acc'), s.acc);
    w.append(step, e, 0, ev, w.metricId('test_loss'), 2.3 * (1 - s.acc));
    w.append(step, e, 0, ev, w.metricId('train_loss'), 2.3 * (1 - s.acc));
    diagnosis(step, e);
    w.checkpoint(prog(RunStatus.running, e));
  }
  w.close(prog(RunStatus.complete, epochs));
  return path;
}
