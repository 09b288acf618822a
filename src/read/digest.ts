/**
 * A run reduced to what the report draws and tests: per-epoch evaluation, per-step series
 * averaged into at most {@link MAX_POINTS} buckets, last-epoch means of every metric, and the
 * step at which each output unit died. Traces are read one at a time and only digests are kept,
 * so a report over a whole sweep stays small in memory.
 */
import type { StoredConfig } from '../trace/stored-config.js';
import type { Trace } from '../trace/reader.js';
import { RunProbe } from '../trace/schema.js';
import { layerActivation } from '../activations/index.js';
import { ProbeId } from '../probes/ids.js';
import { activeUnitOf, DIAGNOSIS_PROBE, Metric, quantileMetric, QUANTILES, UNIT_ACTIVITY_PROBE, unitOf } from '../trace/metrics.js';
import { bucketSize, bucketStart } from './stats.js';

export const MAX_POINTS = 200;
/** points per run of the distribution bands and the per-unit heat strips (finer is not readable) */
export const STRIP_POINTS = 100;
/** layers with at most this many units get a per-unit heat strip (wider ones are not readable) */
export const STRIP_MAX_UNITS = 16;

/** Quantiles of z or a at one bucket of steps (means over the bucket's probed steps). */
export interface QuantilePoint {
  readonly layer: number;
  readonly of: 'z' | 'a';
  readonly step: number;
  /** QUANTILES[i] → q[i] */
  readonly q: readonly number[];
}

/** The share of samples for which a unit is active, per bucket of steps (layers with per-unit figures). */
export interface UnitPoint {
  readonly layer: number;
  readonly unit: number;
  readonly step: number;
  readonly value: number;
}

/** The per-step series drawn in the per-run panels. */
export const SERIES_METRICS: readonly (readonly [probe: string, metric: string])[] = [
  [ProbeId.loss, Metric.loss],
  [ProbeId.deadRelu, Metric.inactiveFrac],
  [ProbeId.deadRelu, Metric.deadUnits],
  [ProbeId.deadRelu, Metric.deadRows],
  [ProbeId.saturation, Metric.satFrac],
  [ProbeId.saturation, Metric.meanDeriv],
  [ProbeId.gradients, Metric.wGradNorm],
  [ProbeId.gradients, Metric.updateRatio],
];

export interface SeriesPoint {
  readonly layer: number;
  readonly metric: string;
  /** first step of the bucket */
  readonly step: number;
  readonly value: number;
}

export interface EvalPoint {
  readonly epoch: number;
  readonly step: number;
  readonly testAcc: number | null;
  readonly testLoss: number | null;
  readonly trainLoss: number | null;
}

export interface RunDigest {
  readonly path: string;
  readonly run: string;
  readonly combo: string;
  /** what else the run changed: dataset and batch norm ('mnist' for the study's setting) */
  readonly variant: string;
  readonly dataset: string;
  /** batch-norm setting: none, last, all */
  readonly bn: string;
  readonly acts: readonly string[];
  /** a run of probe's own MLP (false: an attached model, whose layers the study's groups do not describe) */
  readonly study: boolean;
  readonly seed: number;
  readonly status: string;
  readonly truncated: boolean;
  readonly epochsDone: number;
  readonly epochsPlanned: number | null;
  readonly stepsPerEpoch: number;
  readonly evals: readonly EvalPoint[];
  readonly finalTestAcc: number | null;
  /** steps averaged into one point of {@link series} */
  readonly bucket: number;
  readonly series: readonly SeriesPoint[];
  /** mean over the probed steps of the last finished epoch (all steps if none finished), keyed `layer/metric` */
  readonly lastEpoch: Readonly<Record<string, number>>;
  /** which epoch {@link lastEpoch} averages; 0 when no epoch finished */
  readonly lastEpochIndex: number;
  /**
   * ReLU units: step of death (inactive for every probed input from then to the end), null if
   * alive. From the per-unit activity windows (every ReLU layer), or else from the output layer's
   * per-step `active_u{k}` (older traces, ≤ 16 units).
   */
  readonly deaths: readonly { readonly layer: number; readonly unit: number; readonly step: number | null }[];
  /** the diagnosis rows of each evaluation (epoch 0 = before training), keyed `layer/metric` */
  readonly diagEpochs: readonly { readonly epoch: number; readonly step: number; readonly values: Readonly<Record<string, number>> }[];
  /** the last evaluation's diagnosis (empty if the trace has none) */
  readonly diag: Readonly<Record<string, number>>;
  /** steps of one point of {@link quantiles} and {@link units} */
  readonly stripBucket: number;
  readonly quantiles: readonly QuantilePoint[];
  readonly units: readonly UnitPoint[];
  /** last step recorded (probe rows), so charts can span the whole run */
  readonly lastStep: number;
  readonly probes: readonly string[];
  /** probes the run was asked to record (its config) */
  readonly probesConfigured: readonly string[];
}

const key = (layer: number, metric: string) => `${layer}/${metric}`;

export function digestTrace(t: Trace): RunDigest {
  const c = t.columns;
  const f = t.facts;
  let maxStep = -1;
  for (let i = 0; i < c.length; i++) if (c.step[i] > maxStep) maxStep = c.step[i];
  const steps = maxStep + 1;
  const bucket = bucketSize(steps, MAX_POINTS);
  const evalId = c.probes.indexOf(RunProbe.eval), timingId = c.probes.indexOf(RunProbe.timing);
  const diagId = c.probes.indexOf(DIAGNOSIS_PROBE), unitId = c.probes.indexOf(UNIT_ACTIVITY_PROBE);
  const diagEpochs = new Map<number, { step: number; values: Record<string, number> }>();
  const windows = new Map<number, { layer: number; unit: number; step: number[]; v: number[] }>();
  const wanted = new Map<number, string>(); // metric code → name, for series
  const probeOf = new Map<string, number>(SERIES_METRICS.map(([p, m]) => [m, c.probes.indexOf(p)]));
  SERIES_METRICS.forEach(([, m]) => { const id = c.metrics.indexOf(m); if (id >= 0) wanted.set(id, m); });
  const evals = new Map<number, { step: number; v: Record<string, number> }>();
  const sums = new Map<number, { layer: number; metric: string; step: number; sum: number; n: number }>();
  const epochDone = t.progress?.epochsDone ?? 0;
  // epochs with an eval row are finished even when the footer was lost
  for (let i = 0; i < c.length; i++) if (c.probe[i] === evalId) {
    const e = evals.get(c.epoch[i]) ?? { step: c.step[i], v: {} };
    e.v[c.metrics[c.metric[i]]] = c.value[i];
    evals.set(c.epoch[i], e);
  }
  const lastEpochIndex = Math.max(epochDone, ...evals.keys(), 0);
  // Per row the work is keyed by numbers: what a metric code means is decided once per code, and
  // accumulators are found by integer keys (string keys per row made this loop ~3× slower).
  const nm = c.metrics.length;
  const last = new Map<number, { layer: number; code: number; sum: number; n: number }>();
  const unitSeries = new Map<number, { step: number[]; v: number[] }>();
  const outLayer = f.layers.length;
  const probeSeen = new Uint8Array(c.probes.length);
  const stripBucket = Math.max(1, Math.ceil(steps / STRIP_POINTS));
  const distId = c.probes.indexOf(ProbeId.distribution);
  // per metric code: the unit of an `active_u{k}` metric (else −1); the probe whose rows of it are a
  // drawn series (else −2); for a quantile of the distribution probe, [z|a, index into QUANTILES]
  const activeUnit = Int32Array.from(c.metrics, activeUnitOf);
  const seriesProbe = Int32Array.from(c.metrics, (_, code) => { const m = wanted.get(code); return m === undefined ? -2 : probeOf.get(m)!; });
  const qOf: (readonly ['z' | 'a', number] | undefined)[] = new Array(nm);
  for (const of of ['z', 'a'] as const) QUANTILES.forEach((p, i) => { const id = c.metrics.indexOf(quantileMetric(of, p)); if (id >= 0) qOf[id] = [of, i]; });
  // keys end in a bucket's index (< MAX_POINTS + 1, STRIP_POINTS + 1): small integers V8 hashes fast
  const qAcc = new Map<number, { layer: number; of: 'z' | 'a'; step: number; sum: number[]; n: number[] }>();
  const uAcc = new Map<number, { layer: number; unit: number; step: number; sum: number; n: number }>();
  const unitKey = (layer: number, unit: number, b: number) => (layer * 65536 + unit) * (STRIP_POINTS + 1) + b / stripBucket;
  for (let i = 0; i < c.length; i++) {
    const p = c.probe[i];
    if (p === evalId || p === timingId) continue;
    if (p === diagId) {
      const e = diagEpochs.get(c.epoch[i]) ?? { step: c.step[i], values: {} };
      e.values[key(c.layer[i], c.metrics[c.metric[i]])] = c.value[i];
      diagEpochs.set(c.epoch[i], e);
      probeSeen[p] = 1;
      continue;
    }
    if (p === unitId) {
      const k = c.layer[i] * nm + c.metric[i];
      let w = windows.get(k);
      if (!w) windows.set(k, (w = { layer: c.layer[i], unit: unitOf(c.metrics[c.metric[i]]), step: [], v: [] }));
      w.step.push(c.step[i]); w.v.push(c.value[i]);
      probeSeen[p] = 1;
      continue;
    }
    probeSeen[p] = 1;
    const code = c.metric[i], layer = c.layer[i], v = c.value[i];
    if (lastEpochIndex === 0 || c.epoch[i] === lastEpochIndex) {
      const k = layer * nm + code;
      let a = last.get(k);
      if (!a) last.set(k, (a = { layer, code, sum: 0, n: 0 }));
      a.sum += v; a.n++;
    }
    if (seriesProbe[code] === p) {
      const b = bucketStart(c.step[i], bucket);
      const k = (layer * nm + code) * (MAX_POINTS + 1) + b / bucket;
      let s = sums.get(k);
      if (!s) sums.set(k, (s = { layer, metric: c.metrics[code], step: b, sum: 0, n: 0 }));
      s.sum += v; s.n++;
    }
    if (p === distId) {
      const q = qOf[code];
      if (q) {
        const b = Math.floor(c.step[i] / stripBucket) * stripBucket;
        const k = (layer * 2 + (q[0] === 'z' ? 0 : 1)) * (STRIP_POINTS + 1) + b / stripBucket;
        let a = qAcc.get(k);
        if (!a) qAcc.set(k, (a = { layer, of: q[0], step: b, sum: QUANTILES.map(() => 0), n: QUANTILES.map(() => 0) }));
        a.sum[q[1]] += v; a.n[q[1]]++;
      }
    }
    const unit = activeUnit[code];
    if (unit >= 0) {
      const b = Math.floor(c.step[i] / stripBucket) * stripBucket;
      const k = unitKey(layer, unit, b);
      let a = uAcc.get(k);
      if (!a) uAcc.set(k, (a = { layer, unit, step: b, sum: 0, n: 0 }));
      a.sum += v; a.n++;
    }
  }
  // without unit-activity windows, when each output unit died comes from its per-step active share
  if (windows.size === 0) {
    for (let i = 0; i < c.length; i++) {
      const p = c.probe[i], unit = activeUnit[c.metric[i]];
      if (unit < 0 || c.layer[i] !== outLayer || p === evalId || p === timingId || p === diagId || p === unitId) continue;
      let us = unitSeries.get(unit);
      if (!us) unitSeries.set(unit, (us = { step: [], v: [] }));
      us.step.push(c.step[i]); us.v.push(c.value[i]);
    }
  }
  // small ReLU layers without per-step `active_u{k}` (other than the output) get their strip from the windows
  const stripLayers = new Set([...uAcc.values()].map((a) => a.layer));
  for (const w of windows.values()) {
    if (stripLayers.has(w.layer) || (f.layers[w.layer - 1]?.fanOut ?? Infinity) > STRIP_MAX_UNITS) continue;
    w.step.forEach((st, j) => {
      const b = Math.floor(st / stripBucket) * stripBucket;
      const k = unitKey(w.layer, w.unit, b);
      const a = uAcc.get(k) ?? { layer: w.layer, unit: w.unit, step: b, sum: 0, n: 0 };
      a.sum += w.v[j]; a.n++;
      uAcc.set(k, a);
    });
  }
  const evalPoints: EvalPoint[] = [...evals.entries()].sort((a, b) => a[0] - b[0]).map(([epoch, e]) => ({
    epoch, step: e.step, testAcc: e.v.test_acc ?? null, testLoss: e.v.test_loss ?? null, trainLoss: e.v.train_loss ?? null,
  }));
  return {
    path: t.path,
    run: t.run,
    combo: f.combo,
    variant: variantOf(t.config),
    dataset: t.config.dataset,
    bn: t.config.bn,
    acts: f.layers.map((l) => layerActivation(l)),
    study: f.engine !== 'attach',
    seed: f.seed,
    status: t.status,
    truncated: t.truncated,
    epochsDone: evalPoints.length,
    epochsPlanned: t.config.epochs,
    stepsPerEpoch: f.stepsPerEpoch,
    evals: evalPoints,
    finalTestAcc: evalPoints.at(-1)?.testAcc ?? null,
    bucket,
    series: [...sums.values()].sort((a, b) => a.layer - b.layer || a.metric.localeCompare(b.metric) || a.step - b.step)
      .map((s) => ({ layer: s.layer, metric: s.metric, step: s.step, value: s.sum / s.n })),
    lastEpoch: Object.fromEntries([...last.values()].map((a) => [key(a.layer, c.metrics[a.code]), a.sum / a.n])),
    lastEpochIndex,
    deaths: windows.size
      ? [...windows.values()].sort((a, b) => a.layer - b.layer || a.unit - b.unit).map((w) => ({ layer: w.layer, unit: w.unit, step: deathStep(w.step, w.v) }))
      : [...unitSeries.entries()].sort((a, b) => a[0] - b[0]).map(([unit, s]) => ({ layer: outLayer, unit, step: deathStep(s.step, s.v) })),
    diagEpochs: [...diagEpochs.entries()].sort((a, b) => a[0] - b[0]).map(([epoch, e]) => ({ epoch, ...e })),
    diag: [...diagEpochs.entries()].sort((a, b) => a[0] - b[0]).at(-1)?.[1].values ?? {},
    stripBucket,
    quantiles: [...qAcc.values()].sort((a, b) => a.layer - b.layer || a.of.localeCompare(b.of) || a.step - b.step)
      .map((a) => ({ layer: a.layer, of: a.of, step: a.step, q: a.sum.map((s, i) => (a.n[i] ? s / a.n[i] : NaN)) })),
    units: [...uAcc.values()].sort((a, b) => a.layer - b.layer || a.unit - b.unit || a.step - b.step)
      .map((a) => ({ layer: a.layer, unit: a.unit, step: a.step, value: a.sum / a.n })),
    lastStep: Math.max(0, steps - 1),
    probes: c.probes.filter((_, p) => probeSeen[p] === 1).sort(),
    probesConfigured: t.config.probes,
  };
}

/**
 * The step from which a unit stays inactive (active share 0) until the end of the trace, if that
 * stretch covers at least a tenth of the probed steps (or 100 of them): a unit that is merely quiet
 * for the last few steps is not called dead.
 */
export function deathStep(steps: readonly number[], active: readonly number[]): number | null {
  let i = active.length;
  while (i > 0 && active[i - 1] === 0) i--;
  if (i === active.length) return null;
  const stretch = active.length - i;
  if (i > 0 && stretch < Math.min(100, Math.ceil(active.length / 10))) return null;
  return steps[i];
}

/** A diagnosis figure at the last evaluation (layer 0 = whole network), or null if the run lacks it. */
export function diagValue(d: RunDigest, layer: number, metric: string): number | null {
  const v = d.diag[key(layer, metric)];
  return v === undefined || !Number.isFinite(v) ? null : v;
}

/** The measure of a metric at the last epoch, or null if the run did not record it. */
export function lastValue(d: RunDigest, layer: number, metric: string): number | null {
  const v = d.lastEpoch[key(layer, metric)];
  return v === undefined ? null : v;
}

/** `mnist`, `mnist · bn-last`, `cifar10 · bn-all`, …: runs are only compared within one variant. */
export function variantOf(config: Pick<StoredConfig, 'dataset' | 'bn'>): string {
  return `${config.dataset}${config.bn !== 'none' ? ` · bn-${config.bn}` : ''}`;
}
