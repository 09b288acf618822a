/**
 * Whether a trace follows docs/trace-format.md, whichever writer wrote it (probe's engine, a tfjs
 * model's attached probes, probe_torch): the metadata's fields, which probe and metric names may
 * appear on which layer, value ranges, the probes' schedules, one row per key, and the progress
 * agreeing with the rows. `probe inspect --check` prints what it finds; the test suite runs it on
 * traces of every writer.
 */
import { canDie, canSaturate, layerActivation, specOf, type ActivationSpec } from '../activations/index.js';
import { DEFAULT_PROBE_SETTINGS } from '../probes/probe.js';
import { PROBE_IDS, ProbeId } from '../probes/ids.js';
import { CAUSES, CAUSE_SETS, Diag, errorCell, errorShare, inputShare } from '../study/study.js';
import { activeUnitMetric, DIAGNOSIS_PROBE, LayerErrorShare, Metric, QUANTILES, quantileMetric, UNIT_ACTIVITY_PROBE, UNIT_WINDOWS_PER_EPOCH, unitMetric } from '../trace/metrics.js';
import type { Trace } from '../trace/reader.js';
import { EVAL_METRICS, EvalMetric, isFinished, RunProbe, RunStatus, TIMING_METRICS, type LayerFacts } from '../trace/schema.js';

export interface Violation {
  /** which rule of the format: facts, config, progress, names, range, schedule, rows */
  readonly rule: string;
  readonly detail: string;
}

export interface ConformanceReport {
  readonly violations: readonly Violation[];
  /** violations beyond those listed (the list stops at {@link MAX_LISTED}) */
  readonly more: number;
  readonly rows: number;
}

export const MAX_LISTED = 50;

/** Windows of per-unit activity per epoch: the format's, and 20 in traces written before 2026-12. */
const WINDOWS_PER_EPOCH = [UNIT_WINDOWS_PER_EPOCH, 20] as const;

/** What a value may be: a share in [0, 1], a size ≥ 0, or any number; NaN is always allowed. */
type Kind = 'share' | 'size' | 'any';

/** Per probe, per layer: the metrics it may write there and what each value is. */
type Allowed = Map<string, Kind>;


function layerSpec(l: LayerFacts): ActivationSpec | null {
  return specOf(layerActivation(l));
}

/** The metric names each probe may write on layer `layer` (0 = network) of a network with `layers`. */
function allowedFor(probe: string, layer: number, layers: readonly LayerFacts[], perUnitMax: number): Allowed | null {
  const L = layers.length;
  const m = new Map<string, Kind>();
  const put = (names: readonly string[], kind: Kind) => names.forEach((n) => m.set(n, kind));
  if (layer === 0) {
    switch (probe) {
      case ProbeId.loss: put([Metric.loss], 'any'); put([Metric.accuracy], 'share'); return m;
      case RunProbe.eval: put(EVAL_METRICS, 'any'); put([EvalMetric.testAcc], 'share'); return m;
      case RunProbe.timing: put(TIMING_METRICS, 'size'); return m;
      case DIAGNOSIS_PROBE:
        put([Diag.errors], 'share');
        put(CAUSES.flatMap((c) => [inputShare(c), errorShare(c)]), 'share');
        put(CAUSE_SETS.map(errorCell), 'share');
        return m;
      default: return null;
    }
  }
  if (layer < 1 || layer > L) return null;
  const facts = layers[layer - 1], spec = layerSpec(facts), units = facts.fanOut;
  const dies = spec !== null && canDie(spec), saturates = spec !== null && canSaturate(spec);
  const unitNames = (f: (k: number) => string) => Array.from({ length: units }, (_, k) => f(k));
  switch (probe) {
    case ProbeId.saturation:
      if (!saturates) return null;
      put([Metric.satFrac, Metric.satLow, ...(spec.saturation.high ? [Metric.satHigh] : []), ...(layer === L ? [Metric.satWrongFrac] : [])], 'share');
      put([Metric.meanDeriv], 'size');
      return m;
    case ProbeId.deadRelu:
      if (!dies) return null;
      put([Metric.inactiveFrac, Metric.deadUnits, Metric.deadRows], 'share');
      if (units <= perUnitMax) put(unitNames(activeUnitMetric), 'share');
      return m;
    case ProbeId.gradients:
      put([Metric.wGradNorm, Metric.wGradMax, Metric.bGradNorm, Metric.bGradMax, Metric.zGradNorm, Metric.zGradMax, Metric.updateRatio], 'size');
      return m;
    case UNIT_ACTIVITY_PROBE:
      if (!dies) return null;
      put(unitNames(unitMetric), 'share');
      return m;
    case ProbeId.distribution:
      put(QUANTILES.flatMap((p) => [quantileMetric('z', p), quantileMetric('a', p)]), 'any');
      return m;
    case DIAGNOSIS_PROBE:
      if (dies) put([Diag.inactivePairs, Diag.deadInputs, Diag.majorityInactive, ...(layer === L ? [Diag.trueInactive] : [])], 'share');
      else if (saturates) { put([Diag.satPairs, Diag.satPairsStrict, Diag.satPairsLoose, Diag.satInputs], 'share'); put([Diag.meanDeriv], 'size'); }
      put([Diag.gradNorm, Diag.gradRatio], 'size');
      // the share of errors per layer (the generic diagnosis's); written by writers that know them
      if (dies) put([LayerErrorShare.mostOff], 'share');
      if (saturates) put([LayerErrorShare.mostSat], 'share');
      put([LayerErrorShare.gradZero, LayerErrorShare.gradVanished], 'share');
      return m;
    default: return null;
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isInt = (v: unknown, min = 0) => typeof v === 'number' && Number.isInteger(v) && v >= min;

export function checkTrace(t: Trace): ConformanceReport {
  const out: Violation[] = [];
  let more = 0;
  const add = (rule: string, detail: string) => { if (out.length < MAX_LISTED) out.push({ rule, detail }); else more++; };
  const f = t.facts as unknown as Record<string, unknown>;
  const cfg = t.config.raw;

  // ---- facts
  for (const k of ['run', 'combo', 'backend', 'engine', 'startedAt']) if (typeof f[k] !== 'string') add('facts', `facts.${k} is ${JSON.stringify(f[k])}, not a string`);
  if (typeof f.seed !== 'number') add('facts', `facts.seed is ${JSON.stringify(f.seed)}, not a number`);
  if (!isObj(f.versions)) add('facts', 'facts.versions is not an object');
  if (!isObj(f.host)) add('facts', 'facts.host is not an object');
  const ds = f.dataset;
  if (!isObj(ds) || typeof ds.name !== 'string' || !isInt(ds.trainSize) || !isInt(ds.testSize)) add('facts', 'facts.dataset is not {name, source, trainSize, testSize}');
  if (!isInt(f.stepsPerEpoch)) add('facts', `facts.stepsPerEpoch is ${JSON.stringify(f.stepsPerEpoch)}, not an integer ≥ 0`);
  const layers = Array.isArray(f.layers) ? (f.layers as LayerFacts[]) : [];
  if (!Array.isArray(f.layers) || layers.length === 0) add('facts', 'facts.layers is not a non-empty list');
  layers.forEach((l, i) => {
    if (l.layer !== i + 1) add('facts', `facts.layers[${i}].layer is ${l.layer}, not ${i + 1}`);
    if (typeof l.activation !== 'string') add('facts', `facts.layers[${i}].activation is not a string`);
    if (!isInt(l.fanIn, 1) || !isInt(l.fanOut, 1)) add('facts', `facts.layers[${i}] fanIn/fanOut ${l.fanIn}/${l.fanOut} are not integers ≥ 1`);
  });
  if (t.run !== f.run) add('facts', `facts.run ${JSON.stringify(f.run)} is not the run's name`);

  // ---- config
  const thresholds = isObj(cfg.thresholds) ? cfg.thresholds : {};
  const every = isInt(cfg.every, 1) ? (cfg.every as number) : null;
  if (every === null) add('config', `config.every is ${JSON.stringify(cfg.every)}, not an integer ≥ 1`);
  const setting = (k: keyof typeof DEFAULT_PROBE_SETTINGS) => (typeof thresholds[k] === 'number' ? (thresholds[k] as number) : DEFAULT_PROBE_SETTINGS[k]);
  for (const k of Object.keys(DEFAULT_PROBE_SETTINGS)) if (typeof thresholds[k] !== 'number') add('config', `config.thresholds.${k} is missing`);
  if (cfg.probes !== 'all' && (!Array.isArray(cfg.probes) || cfg.probes.some((p) => !(PROBE_IDS as readonly unknown[]).includes(p)))) add('config', `config.probes ${JSON.stringify(cfg.probes)} is not 'all' or a list of probe ids`);
  if (typeof cfg.configHash !== 'string') add('config', 'config.configHash is missing');
  const distEvery = setting('distributionEvery'), perUnitMax = setting('perUnitMax');

  // ---- progress
  const p = t.progress;
  if (p === null) {
    if (!t.recovered) add('progress', 'no probe.progress in the footer');
  } else {
    if (!(Object.values(RunStatus) as string[]).includes(p.status)) add('progress', `status ${JSON.stringify(p.status)} is not one of ${Object.values(RunStatus).join(', ')}`);
    if (!isInt(p.epochsDone) || !isInt(p.stepsDone)) add('progress', 'epochsDone/stepsDone are not integers ≥ 0');
    if (!Array.isArray(p.epochSeconds) || p.epochSeconds.length !== p.epochsDone) add('progress', `epochSeconds has ${Array.isArray(p.epochSeconds) ? p.epochSeconds.length : '?'} entries for ${p.epochsDone} epochs`);
    if ((p.status === RunStatus.running) !== (p.endedAt === null)) add('progress', `endedAt is ${JSON.stringify(p.endedAt)} with status ${p.status}`);
    if (p.status === RunStatus.diverged && !p.diverged) add('progress', 'status diverged without diverged {step, reason}');
    if (p.status === RunStatus.stopped && !p.stopped) add('progress', 'status stopped without stopped (the rule event that stopped it)');
  }
  if (isFinished(t.status) && t.recovered) add('progress', `a ${t.status} trace whose footer is damaged`);

  // ---- rows
  const c = t.columns;
  const allowed = new Map<string, Allowed | null>();
  const allowedAt = (probe: string, layer: number) => {
    const k = `${probe}|${layer}`;
    if (!allowed.has(k)) allowed.set(k, allowedFor(probe, layer, layers, perUnitMax));
    return allowed.get(k)!;
  };
  const probeNames = new Set<string>([...PROBE_IDS, RunProbe.eval, RunProbe.timing, DIAGNOSIS_PROBE]);
  for (const name of c.probes) if (!probeNames.has(name)) add('names', `probe '${name}' is not one the format names`);
  const seen = new Map<string, Set<number>>();
  const spe = isInt(f.stepsPerEpoch, 1) ? (f.stepsPerEpoch as number) : 0;
  // each window's first step, counted from its epoch's first: multiples of the window's length
  const windowStarts = new Set<number>();
  const timingEpochs = new Set<number>();
  let maxStep = -1;
  const errsets = new Map<string, number>();
  const bad = new Set<string>();
  const once = (key: string, rule: string, detail: string) => { if (!bad.has(key)) { bad.add(key); add(rule, detail); } };
  for (let i = 0; i < c.length; i++) {
    const probe = c.probes[c.probe[i]], metric = c.metrics[c.metric[i]];
    const layer = c.layer[i], step = c.step[i], epoch = c.epoch[i], v = c.value[i];
    const where = `step ${step} epoch ${epoch} layer ${layer} ${probe}/${metric}`;
    if (!probeNames.has(probe)) continue;
    const a = allowedAt(probe, layer);
    if (!a) { once(`layer|${probe}|${layer}`, 'names', `${probe} rows on layer ${layer}, where the format writes none (${layer > layers.length ? `the network has ${layers.length} layers` : layer > 0 ? `activation ${layerActivation(layers[layer - 1])}` : 'the network'})`); continue; }
    const kind = a.get(metric);
    if (kind === undefined) { once(`metric|${probe}|${layer}|${metric}`, 'names', `${where}: '${metric}' is not a metric ${probe} writes there`); continue; }
    if (!Number.isNaN(v) && ((kind === 'share' && (v < 0 || v > 1)) || (kind === 'size' && v < 0))) once(`range|${probe}|${metric}`, 'range', `${where} is ${v}, not ${kind === 'share' ? 'a share in [0, 1]' : '≥ 0'}`);
    if (step < 0 || epoch < 0) once('neg', 'rows', `${where}: negative step or epoch`);
    // loss runs every step; these on steps 0, every, 2·every, …
    const sampled = probe === ProbeId.saturation || probe === ProbeId.deadRelu || probe === ProbeId.gradients;
    if (sampled || probe === ProbeId.loss || probe === ProbeId.distribution || probe === UNIT_ACTIVITY_PROBE) {
      if (epoch < 1) once(`epoch0|${probe}`, 'rows', `${where}: a step's rows belong to an epoch ≥ 1`);
      if (step > maxStep) maxStep = step;
    }
    if (sampled && every !== null && step % every !== 0) once(`every|${probe}`, 'schedule', `${where}: not a probed step (config.every ${every})`);
    if (probe === ProbeId.distribution && step % distEvery !== 0) once('dist', 'schedule', `${where}: distribution runs every ${distEvery} steps`);
    if (probe === UNIT_ACTIVITY_PROBE && spe) windowStarts.add(step - (epoch - 1) * spe);
    if ((probe === RunProbe.eval || probe === RunProbe.timing) && epoch < 1) once(`evalepoch|${probe}`, 'rows', `${where}: evaluation figures belong to an epoch ≥ 1`);
    if (probe === DIAGNOSIS_PROBE && epoch === 0 && step !== 0) once('diag0', 'rows', `${where}: the evaluation before training is at step 0`);
    if (probe === RunProbe.timing) timingEpochs.add(epoch);
    if (probe === DIAGNOSIS_PROBE && metric.startsWith('errset_') && !Number.isNaN(v)) errsets.set(`${step}|${epoch}`, (errsets.get(`${step}|${epoch}`) ?? 0) + v);
    const k = `${c.probe[i]}|${c.metric[i]}|${layer}`;
    let s = seen.get(k);
    if (!s) seen.set(k, (s = new Set()));
    const at = step * 65536 + epoch;
    if (s.has(at)) once(`dup|${k}`, 'rows', `${where}: more than one row`);
    s.add(at);
  }
  if (windowStarts.size) {
    const fits = (k: number) => { const w = Math.max(1, Math.ceil(spe / k)); return [...windowStarts].every((o) => o >= 0 && o < spe && o % w === 0); };
    if (!WINDOWS_PER_EPOCH.some(fits)) {
      add('schedule', `unit-activity windows start at steps ${[...windowStarts].sort((a, b) => a - b).slice(0, 6).join(', ')}… of their epochs: not windows of 1/${WINDOWS_PER_EPOCH.join(' or 1/')} epoch (stepsPerEpoch ${spe})`);
    }
  }
  for (const [at, sum] of errsets) if (Math.abs(sum - 1) > 1e-4) add('range', `the errset_ cells at step|epoch ${at} add up to ${sum}, not 1`);
  if (p) {
    if (maxStep >= p.stepsDone) add('progress', `rows at step ${maxStep} but stepsDone is ${p.stepsDone}`);
    if (timingEpochs.size !== p.epochsDone) add('progress', `timing rows for ${timingEpochs.size} epochs, epochsDone ${p.epochsDone}`);
  }
  return { violations: out, more, rows: c.length };
}
