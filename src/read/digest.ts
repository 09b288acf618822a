/**
 * A run reduced to what the report draws and tests: per-epoch evaluation, per-step series
 * averaged into at most {@link MAX_POINTS} buckets, last-epoch means of every metric, and the
 * step at which each output unit died. Traces are read one at a time and only digests are kept,
 * so a report over a whole sweep stays small in memory.
 */
import { DATASET_NOT_RECORDED, type StoredConfig } from '../trace/stored-config.js';
import type { Trace } from '../trace/reader.js';
import type { RuleConfig } from '../rules/rules.js';
import { isAttached, RunProbe } from '../trace/schema.js';
import { layerActivation } from '../activations/index.js';
import { ProbeId } from '../probes/ids.js';
import { activeUnitOf, DIAGNOSIS_PROBE, quantileMetric, QUANTILES, UNIT_ACTIVITY_PROBE, unitOf } from '../trace/metrics.js';
import { bucketSize } from './stats.js';
import { deathStep, diagnoseTrace, type RunDiagnosis } from './diagnose.js';

export { deathStep };

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

/** A per-step metric of one probe, as a panel names what it draws. */
export type SeriesNeed = readonly [probe: string, metric: string];

/**
 * What a reader keeps of a trace's per-step rows, declared by whoever draws them (the report's
 * panels declare what each `requires`, as cockpit's instruments do, and the page passes the union):
 * a metric no panel asks for costs nothing, and a new one is kept as soon as a panel names it.
 * Evaluations, the diagnosis, units' deaths and last-epoch means of every metric are always kept.
 */
export interface DigestNeeds {
  /** per-step series to average into buckets */
  readonly series: readonly SeriesNeed[];
  /** the distribution probe's quantile bands */
  readonly quantiles: boolean;
  /** per-unit activity strips of small layers */
  readonly units: boolean;
}

/** Nothing drawn per step: what a verdict or a diagnosis line needs. */
export const NO_CHARTS: DigestNeeds = { series: [], quantiles: false, units: false };

/** The union of several readers' needs. */
export function unionNeeds(needs: readonly Partial<DigestNeeds>[]): DigestNeeds {
  const series = new Map<string, SeriesNeed>();
  for (const n of needs) for (const s of n.series ?? []) series.set(`${s[0]}\u0000${s[1]}`, s);
  return { series: [...series.values()], quantiles: needs.some((n) => n.quantiles), units: needs.some((n) => n.units) };
}

export interface SeriesPoint {
  readonly layer: number;
  readonly metric: string;
  /** first step of the bucket */
  readonly step: number;
  /** mean over the bucket's probed steps */
  readonly value: number;
  /**
   * share of the bucket's probed steps whose value is exactly 0 (a gradient that is not there at
   * all): a log axis cannot draw them, and a mean with them is not the size of the others
   */
  readonly zero: number;
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
  /** the intervention on the output layer: none, out-linear, out-leaky, out-bias */
  readonly intervention: string;
  readonly acts: readonly string[];
  /** a run of probe's own MLP (false: an attached model, whose layers the study's groups do not describe) */
  readonly study: boolean;
  readonly seed: number;
  readonly status: string;
  readonly truncated: boolean;
  /** the rule that stopped the run (--stop-when), said in one line; null when none did */
  readonly stoppedBy: string | null;
  /** the rules the run was given (--stop-when, --warn-when): their thresholds are drawn on the charts of the shares they read */
  readonly rules: readonly RuleConfig[];
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
  readonly probesConfigured: 'all' | readonly string[];
  /** what is wrong with the run, for any network (read/diagnose.ts) */
  readonly health: RunDiagnosis;
  /** training samples of one epoch */
  readonly trainSize: number;
}

const key = (layer: number, metric: string) => `${layer}/${metric}`;

/**
 * Reduces a trace to a digest, keeping of its per-step rows what `needs` asks for. One pass over
 * the rows, keyed by numbers: what a (probe, metric) code pair means is decided once per pair, and
 * accumulators live in typed arrays indexed by layer, code and bucket (string keys per row made
 * this loop ~3× slower, Map lookups another ~2×).
 */
/**
 * The dataset a run trained on: its config's, or for an attached model whose config does not name
 * it, the facts' (what the caller passed as `dataset`), never the study's `mnist` by default.
 */
export function datasetOf(t: Pick<Trace, 'config' | 'facts'>): string {
  if (t.config.dataset !== DATASET_NOT_RECORDED) return t.config.dataset;
  const name = t.facts.dataset?.name;
  return name && name !== 'unknown' ? name : DATASET_NOT_RECORDED;
}

export function digestTrace(t: Trace, needs: DigestNeeds): RunDigest {
  const c = t.columns;
  const f = t.facts;
  const n = c.length, np = c.probes.length, nm = c.metrics.length;
  let maxStep = -1, maxLayer = 0;
  for (let i = 0; i < n; i++) {
    if (c.step[i] > maxStep) maxStep = c.step[i];
    if (c.layer[i] > maxLayer) maxLayer = c.layer[i];
  }
  const steps = maxStep + 1;
  const bucket = bucketSize(steps, MAX_POINTS);
  const stripBucket = Math.max(1, Math.ceil(steps / STRIP_POINTS));
  const nb = MAX_POINTS + 1, ns = STRIP_POINTS + 1;
  const evalId = c.probes.indexOf(RunProbe.eval), timingId = c.probes.indexOf(RunProbe.timing);
  const diagId = c.probes.indexOf(DIAGNOSIS_PROBE), unitId = c.probes.indexOf(UNIT_ACTIVITY_PROBE);
  const distId = c.probes.indexOf(ProbeId.distribution);
  const outLayer = f.layers.length;

  // evaluations first: epochs with an eval row are finished even when the footer was lost
  const evals = new Map<number, { step: number; v: Record<string, number> }>();
  for (let i = 0; i < n; i++) if (c.probe[i] === evalId) {
    const e = evals.get(c.epoch[i]) ?? { step: c.step[i], v: {} };
    e.v[c.metrics[c.metric[i]]] = c.value[i];
    evals.set(c.epoch[i], e);
  }
  const lastEpochIndex = Math.max(t.progress?.epochsDone ?? 0, ...evals.keys(), 0);

  // per (probe, metric) code pair, what its rows are: a drawn series (its index), a quantile
  // ([z|a] × QUANTILES index), a unit's per-step active share (its unit)
  const pm = (p: number, m: number) => p * nm + m;
  const seriesOf = new Int32Array(np * nm).fill(-1);
  needs.series.forEach(([probe, metric], k) => {
    const p = c.probes.indexOf(probe), m = c.metrics.indexOf(metric);
    if (p >= 0 && m >= 0) seriesOf[pm(p, m)] = k;
  });
  const qOf = new Int32Array(nm).fill(-1);
  if (needs.quantiles) (['z', 'a'] as const).forEach((of, o) => QUANTILES.forEach((q, i) => { const m = c.metrics.indexOf(quantileMetric(of, q)); if (m >= 0) qOf[m] = o * QUANTILES.length + i; }));
  const activeUnit = Int32Array.from(c.metrics, activeUnitOf);

  // accumulators, indexed by layer (0..maxLayer)
  const L = maxLayer + 1, NS = needs.series.length, NQ = 2 * QUANTILES.length;
  const lastSum = new Float64Array(L * nm), lastN = new Float64Array(L * nm);
  const sSum = new Float64Array(L * NS * nb), sN = new Float64Array(L * NS * nb), sZero = new Float64Array(L * NS * nb);
  const qSum = new Float64Array(needs.quantiles ? L * NQ * ns : 0), qN = new Float64Array(qSum.length);
  const probeSeen = new Uint8Array(np);
  const diagEpochs = new Map<number, { step: number; values: Record<string, number> }>();
  // per-unit rows: windows (unit-activity) and per-step shares (dead-relu's active_u{k}), by layer·nm+code
  const windows = new Map<number, { layer: number; unit: number; step: number[]; v: number[] }>();
  const unitSteps = new Map<number, { layer: number; unit: number; sum: Float64Array; n: Float64Array; step: number[]; v: number[] }>();
  const keepUnitSeries = (layer: number) => layer === outLayer;
  for (let i = 0; i < n; i++) {
    const p = c.probe[i];
    if (p === evalId || p === timingId) continue;
    probeSeen[p] = 1;
    const code = c.metric[i], layer = c.layer[i], v = c.value[i], step = c.step[i];
    if (p === diagId) {
      const e = diagEpochs.get(c.epoch[i]) ?? { step, values: {} };
      e.values[key(layer, c.metrics[code])] = v;
      diagEpochs.set(c.epoch[i], e);
      continue;
    }
    if (p === unitId) {
      const k = layer * nm + code;
      let w = windows.get(k);
      if (!w) windows.set(k, (w = { layer, unit: unitOf(c.metrics[code]), step: [], v: [] }));
      w.step.push(step); w.v.push(v);
      continue;
    }
    if (lastEpochIndex === 0 || c.epoch[i] === lastEpochIndex) { lastSum[layer * nm + code] += v; lastN[layer * nm + code]++; }
    const si = seriesOf[pm(p, code)];
    if (si >= 0) { const k = (layer * NS + si) * nb + Math.floor(step / bucket); sSum[k] += v; sN[k]++; sZero[k] += +(v === 0); }
    if (p === distId && qOf[code] >= 0) { const k = (layer * NQ + qOf[code]) * ns + Math.floor(step / stripBucket); qSum[k] += v; qN[k]++; }
    const unit = activeUnit[code];
    if (unit >= 0) {
      const k = layer * nm + code;
      let u = unitSteps.get(k);
      if (!u) unitSteps.set(k, (u = { layer, unit, sum: new Float64Array(ns), n: new Float64Array(ns), step: [], v: [] }));
      const b = Math.floor(step / stripBucket);
      u.sum[b] += v; u.n[b]++;
      // when each output unit died, for traces without unit-activity windows
      if (keepUnitSeries(layer)) { u.step.push(step); u.v.push(v); }
    }
  }

  const series: SeriesPoint[] = [];
  for (let layer = 0; layer < L; layer++) {
    // sorted by layer, then metric name, then step, as the page's tables expect
    const order = needs.series.map((s, k) => [s[1], k] as const).sort((a, b) => a[0].localeCompare(b[0]));
    for (const [metric, k] of order) for (let b = 0; b < nb; b++) {
      const at = (layer * NS + k) * nb + b;
      if (sN[at] > 0) series.push({ layer, metric, step: b * bucket, value: sSum[at] / sN[at], zero: sZero[at] / sN[at] });
    }
  }
  const quantiles: QuantilePoint[] = [];
  if (needs.quantiles) for (let layer = 0; layer < L; layer++) for (const [o, of] of (['a', 'z'] as const).map((x) => [x === 'z' ? 0 : 1, x] as const)) {
    for (let b = 0; b < ns; b++) {
      const at = (i: number) => (layer * NQ + o * QUANTILES.length + i) * ns + b;
      if (!QUANTILES.some((_, i) => qN[at(i)] > 0)) continue;
      quantiles.push({ layer, of, step: b * stripBucket, q: QUANTILES.map((_, i) => (qN[at(i)] ? qSum[at(i)] / qN[at(i)] : NaN)) });
    }
  }
  const units: UnitPoint[] = [];
  if (needs.units) {
    const strips = [...unitSteps.values()].map((u) => ({ layer: u.layer, unit: u.unit, sum: u.sum, n: u.n }));
    // small ReLU layers without per-step `active_u{k}` (other than the output) get their strip from the windows
    const stripLayers = new Set(strips.map((u) => u.layer));
    for (const w of windows.values()) {
      if (stripLayers.has(w.layer) || (f.layers[w.layer - 1]?.fanOut ?? Infinity) > STRIP_MAX_UNITS) continue;
      const u = { layer: w.layer, unit: w.unit, sum: new Float64Array(ns), n: new Float64Array(ns) };
      w.step.forEach((st, j) => { const b = Math.floor(st / stripBucket); u.sum[b] += w.v[j]; u.n[b]++; });
      strips.push(u);
    }
    strips.sort((a, b) => a.layer - b.layer || a.unit - b.unit);
    for (const u of strips) for (let b = 0; b < ns; b++) if (u.n[b] > 0) units.push({ layer: u.layer, unit: u.unit, step: b * stripBucket, value: u.sum[b] / u.n[b] });
  }
  const lastEpoch: Record<string, number> = {};
  for (let layer = 0; layer < L; layer++) for (let m = 0; m < nm; m++) if (lastN[layer * nm + m] > 0) lastEpoch[key(layer, c.metrics[m])] = lastSum[layer * nm + m] / lastN[layer * nm + m];
  const evalPoints: EvalPoint[] = [...evals.entries()].sort((a, b) => a[0] - b[0]).map(([epoch, e]) => ({
    epoch, step: e.step, testAcc: e.v.test_acc ?? null, testLoss: e.v.test_loss ?? null, trainLoss: e.v.train_loss ?? null,
  }));
  const outUnits = [...unitSteps.values()].filter((u) => keepUnitSeries(u.layer)).sort((a, b) => a.unit - b.unit);
  return {
    path: t.path,
    run: t.run,
    combo: f.combo,
    variant: variantOf({ dataset: datasetOf(t), bn: t.config.bn, intervention: t.config.intervention }),
    dataset: datasetOf(t),
    bn: t.config.bn,
    intervention: t.config.intervention,
    acts: f.layers.map((l) => layerActivation(l)),
    study: !isAttached(f),
    seed: f.seed,
    status: t.status,
    truncated: t.truncated,
    stoppedBy: t.progress?.stopped ? `${t.progress.stopped.text} (step ${t.progress.stopped.step})` : null,
    rules: t.config.rules,
    epochsDone: evalPoints.length,
    epochsPlanned: t.config.epochs,
    stepsPerEpoch: f.stepsPerEpoch,
    evals: evalPoints,
    finalTestAcc: evalPoints.at(-1)?.testAcc ?? null,
    bucket,
    series,
    lastEpoch,
    lastEpochIndex,
    deaths: windows.size
      ? [...windows.values()].sort((a, b) => a.layer - b.layer || a.unit - b.unit).map((w) => ({ layer: w.layer, unit: w.unit, step: deathStep(w.step, w.v) }))
      : outUnits.map((u) => ({ layer: outLayer, unit: u.unit, step: deathStep(u.step, u.v) })),
    diagEpochs: [...diagEpochs.entries()].sort((a, b) => a[0] - b[0]).map(([epoch, e]) => ({ epoch, ...e })),
    diag: [...diagEpochs.entries()].sort((a, b) => a[0] - b[0]).at(-1)?.[1].values ?? {},
    stripBucket,
    quantiles,
    units,
    lastStep: Math.max(0, steps - 1),
    probes: c.probes.filter((_, p) => probeSeen[p] === 1).sort(),
    probesConfigured: t.config.probes,
    health: diagnoseTrace(t),
    trainSize: f.dataset.trainSize,
  };
}

/** A diagnosis figure at the last evaluation (layer 0 = whole network), or null if the run lacks it. */
export function diagValue(d: RunDigest, layer: number, metric: string): number | null {
  const v = d.diag[key(layer, metric)];
  return v === undefined || !Number.isFinite(v) ? null : v;
}

/** `mnist`, `mnist · bn-last`, `cifar10 · bn-all`, …: runs are only compared within one variant. */
export function variantOf(config: Pick<StoredConfig, 'dataset' | 'bn'> & Partial<Pick<StoredConfig, 'intervention'>>): string {
  const iv = config.intervention && config.intervention !== 'none' ? ` · ${config.intervention}` : '';
  return `${config.dataset}${config.bn !== 'none' ? ` · bn-${config.bn}` : ''}${iv}`;
}
