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
import { DIAGNOSIS_PROBE, UNIT_ACTIVITY_PROBE } from '../study.js';
import { ProbeId } from '../probes/ids.js';
import { QUANTILES, quantileMetric } from '../trace/metrics.js';
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
  ['loss', 'loss'],
  ['dead-relu', 'inactive_frac'],
  ['dead-relu', 'dead_units'],
  ['dead-relu', 'dead_rows'],
  ['saturation', 'sat_frac'],
  ['saturation', 'mean_deriv'],
  ['gradients', 'w_grad_norm'],
  ['gradients', 'update_ratio'],
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
  const steps = c.length ? c.step.reduce((m, s) => Math.max(m, s), 0) + 1 : 0;
  const bucket = bucketSize(steps, MAX_POINTS);
  const evalId = c.probes.indexOf(RunProbe.eval), timingId = c.probes.indexOf(RunProbe.timing);
  const diagId = c.probes.indexOf(DIAGNOSIS_PROBE), unitId = c.probes.indexOf(UNIT_ACTIVITY_PROBE);
  const diagEpochs = new Map<number, { step: number; values: Record<string, number> }>();
  const windows = new Map<string, { layer: number; unit: number; step: number[]; v: number[] }>();
  const wanted = new Map<number, string>(); // metric code → name, for series
  const probeOf = new Map<string, number>(SERIES_METRICS.map(([p, m]) => [m, c.probes.indexOf(p)]));
  SERIES_METRICS.forEach(([, m]) => { const id = c.metrics.indexOf(m); if (id >= 0) wanted.set(id, m); });
  const evals = new Map<number, { step: number; v: Record<string, number> }>();
  const sums = new Map<string, { layer: number; metric: string; step: number; sum: number; n: number }>();
  const epochDone = t.progress?.epochsDone ?? 0;
  // epochs with an eval row are finished even when the footer was lost
  for (let i = 0; i < c.length; i++) if (c.probe[i] === evalId) {
    const e = evals.get(c.epoch[i]) ?? { step: c.step[i], v: {} };
    e.v[c.metrics[c.metric[i]]] = c.value[i];
    evals.set(c.epoch[i], e);
  }
  const lastEpochIndex = Math.max(epochDone, ...evals.keys(), 0);
  const last = new Map<string, { sum: number; n: number }>();
  const unitSeries = new Map<number, { step: number[]; v: number[] }>();
  const outLayer = f.layers.length;
  const probesSeen = new Set<string>();
  const stripBucket = Math.max(1, Math.ceil(steps / STRIP_POINTS));
  const distId = c.probes.indexOf(ProbeId.distribution);
  // metric code → [z|a, index into QUANTILES]
  const qOf = new Map<number, ['z' | 'a', number]>();
  for (const of of ['z', 'a'] as const) QUANTILES.forEach((p, i) => { const id = c.metrics.indexOf(quantileMetric(of, p)); if (id >= 0) qOf.set(id, [of, i]); });
  const qAcc = new Map<string, { layer: number; of: 'z' | 'a'; step: number; sum: number[]; n: number[] }>();
  const uAcc = new Map<string, { layer: number; unit: number; step: number; sum: number; n: number }>();
  for (let i = 0; i < c.length; i++) {
    const p = c.probe[i];
    if (p === evalId || p === timingId) continue;
    if (p === diagId) {
      const e = diagEpochs.get(c.epoch[i]) ?? { step: c.step[i], values: {} };
      e.values[key(c.layer[i], c.metrics[c.metric[i]])] = c.value[i];
      diagEpochs.set(c.epoch[i], e);
      probesSeen.add(DIAGNOSIS_PROBE);
      continue;
    }
    if (p === unitId) {
      const k = `${c.layer[i]}/${c.metrics[c.metric[i]]}`;
      const w = windows.get(k) ?? { layer: c.layer[i], unit: Number(c.metrics[c.metric[i]].slice(1)), step: [], v: [] };
      w.step.push(c.step[i]); w.v.push(c.value[i]);
      windows.set(k, w);
      probesSeen.add(UNIT_ACTIVITY_PROBE);
      continue;
    }
    probesSeen.add(c.probes[p]);
    const metric = c.metrics[c.metric[i]], layer = c.layer[i], v = c.value[i];
    if (lastEpochIndex === 0 || c.epoch[i] === lastEpochIndex) {
      const k = key(layer, metric);
      const a = last.get(k) ?? { sum: 0, n: 0 };
      a.sum += v; a.n++;
      last.set(k, a);
    }
    const name = wanted.get(c.metric[i]);
    if (name !== undefined && probeOf.get(name) === p) {
      const b = bucketStart(c.step[i], bucket);
      const k = `${layer}/${name}/${b}`;
      const s = sums.get(k) ?? { layer, metric: name, step: b, sum: 0, n: 0 };
      s.sum += v; s.n++;
      sums.set(k, s);
    }
    if (p === distId) {
      const q = qOf.get(c.metric[i]);
      if (q) {
        const b = Math.floor(c.step[i] / stripBucket) * stripBucket;
        const k = `${layer}/${q[0]}/${b}`;
        const a = qAcc.get(k) ?? { layer, of: q[0], step: b, sum: QUANTILES.map(() => 0), n: QUANTILES.map(() => 0) };
        a.sum[q[1]] += v; a.n[q[1]]++;
        qAcc.set(k, a);
      }
    }
    if (metric.startsWith('active_u')) {
      const unit = Number(metric.slice('active_u'.length));
      const b = Math.floor(c.step[i] / stripBucket) * stripBucket;
      const k = `${layer}/${unit}/${b}`;
      const a = uAcc.get(k) ?? { layer, unit, step: b, sum: 0, n: 0 };
      a.sum += v; a.n++;
      uAcc.set(k, a);
    }
    if (layer === outLayer && metric.startsWith('active_u')) {
      const u = Number(metric.slice('active_u'.length));
      const s = unitSeries.get(u) ?? { step: [], v: [] };
      s.step.push(c.step[i]); s.v.push(v);
      unitSeries.set(u, s);
    }
  }
  // small ReLU layers without per-step `active_u{k}` (other than the output) get their strip from the windows
  const stripLayers = new Set([...uAcc.values()].map((a) => a.layer));
  for (const w of windows.values()) {
    if (stripLayers.has(w.layer) || (f.layers[w.layer - 1]?.fanOut ?? Infinity) > STRIP_MAX_UNITS) continue;
    w.step.forEach((st, j) => {
      const b = Math.floor(st / stripBucket) * stripBucket;
      const k = `${w.layer}/${w.unit}/${b}`;
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
    lastEpoch: Object.fromEntries([...last.entries()].map(([k, a]) => [k, a.sum / a.n])),
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
    probes: [...probesSeen].sort(),
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
