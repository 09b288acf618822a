/**
 * `compare`: saved runs side by side. Runs that differ only by seed form a group, shown as
 * mean ± sd; the first group is the reference the others are measured against.
 */
import { readTrace, readTraceMeta, type TraceMeta } from '../trace/reader.js';
import { EVAL_METRICS, RunProbe, RunStatus, TIMING_METRICS } from '../trace/schema.js';
import { ProbeError, ErrorCode } from '../errors.js';
import { msg } from '../messages.js';
import { mean, sd } from '../read/stats.js';
import { diagnoseTrace, type RunDiagnosis } from '../read/diagnose.js';
import { Metric } from '../trace/metrics.js';
import { checkGroupKeys, groupValues, settingLabel } from '../read/settings.js';
import { checkOptions, optionKeys } from '../options.js';

export interface CompareOptions {
  /** network-level metric by default */
  readonly metric?: string;
  readonly layer?: number;
  /** epochs to tabulate; default the last finished one */
  readonly epochs?: readonly number[] | null;
  /** absolute difference beyond which the chosen metric counts as diverged */
  readonly tol?: number;
  /** keep runs whose combination matches one of these patterns (`*` = any activation) */
  readonly combos?: string | null;
  /**
   * group runs by these settings (read/settings.ts GROUP_KEYS: `lr`, `batch`, `combo`, …) instead
   * of by everything but the seed: runs that share their values are one group, whatever else differs
   */
  readonly by?: readonly string[] | null;
}

export interface Cell { readonly mean: number | null; readonly sd: number | null; readonly n: number }

export interface Group {
  readonly key: string;
  readonly label: string;
  readonly combo: string;
  readonly seeds: readonly number[];
  readonly runs: readonly string[];
  readonly config: Record<string, unknown>;
  readonly truncated: number;
  /** runs whose loss or weights stopped being finite */
  readonly diverged: number;
  /** runs a rule stopped (--stop-when) */
  readonly stopped: number;
}

export interface CompareRow {
  readonly section: string;
  readonly label: string;
  readonly layer: number;
  readonly metric: string;
  readonly epoch: number | null;
  readonly cells: readonly Cell[];
}

export interface Divergence {
  readonly group: string;
  /** first step where the group's mean differs from the reference's by more than tol; null: never (or no data) */
  readonly step: number | null;
  readonly epoch: number | null;
  /** largest difference over the compared steps; null when there were none */
  readonly maxDiff: number | null;
  /** steps where both the group and the reference have a finite value: 0 means nothing was compared */
  readonly compared: number;
}

export interface Comparison {
  readonly groups: readonly Group[];
  readonly configDiffs: readonly { readonly key: string; readonly values: readonly string[] }[];
  readonly rows: readonly CompareRow[];
  readonly metric: string;
  readonly layer: number;
  readonly tol: number;
  readonly divergence: readonly Divergence[];
  /** the chosen metric per step: mean over each group's seeds, and the lowest and highest seed (its band), for charts */
  readonly series: readonly { readonly group: string; readonly step: number; readonly value: number; readonly lo: number; readonly hi: number; readonly n: number }[];
  /** test accuracy after each epoch: mean over the group's seeds, its lowest and highest seed */
  readonly evals: readonly { readonly group: string; readonly epoch: number; readonly testAcc: number; readonly lo: number; readonly hi: number; readonly n: number }[];
  /** what the reader should know before trusting the table */
  readonly warnings: readonly string[];
  /** what is wrong with each run (read/diagnose.ts), in the order of {@link groups} */
  readonly diagnoses: readonly RunDiagnosis[];
}

function matches(combo: string, patterns: string): boolean {
  return patterns.split(',').map((p) => p.trim()).filter(Boolean).some((p) => {
    const a = combo.split('-'), b = p.split('-');
    return a.length === b.length && b.every((x, i) => x === '*' || x === a[i]);
  });
}

const flatConfig = (c: Record<string, unknown>): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(c)) {
    if (k === 'seed' || k === 'configHash' || k === 'activations') continue;
    if (v && typeof v === 'object' && !Array.isArray(v)) for (const [k2, v2] of Object.entries(v)) out[`${k}.${k2}`] = JSON.stringify(v2);
    else out[k] = JSON.stringify(v);
  }
  return out;
};

/** The per-layer figures tabulated per epoch (means over the epoch's probed steps). */
const FIGURES: readonly string[] = [Metric.inactiveFrac, Metric.deadUnits, Metric.deadRows, Metric.satFrac, Metric.meanDeriv, Metric.wGradNorm, Metric.updateRatio];

/** A trace reduced to what a comparison shows: its rows are dropped once read, so a study-sized folder fits in memory. */
interface Loaded {
  readonly trace: TraceMeta;
  /** the metric names the trace holds (for the message when --metric is not among them) */
  readonly metrics: readonly string[];
  /** per epoch: `layer/metric` → mean over that epoch's probed steps, for {@link FIGURES} */
  readonly epochMeans: Map<number, Map<string, number>>;
  readonly evals: Map<number, Record<string, number>>;
  readonly series: Map<number, number>;
  readonly diagnosis: RunDiagnosis;
}

function load(path: string, metric: string, layer: number): Loaded {
  const t = readTrace(path);
  if (layer > t.facts.layers.length) throw new ProbeError(ErrorCode.config, msg.noSuchLayer(path, layer, t.facts.layers.length));
  const c = t.columns;
  const evalId = c.probes.indexOf(RunProbe.eval), timingId = c.probes.indexOf(RunProbe.timing);
  const evals = new Map<number, Record<string, number>>();
  const series = new Map<number, number>();
  const mId = c.metrics.indexOf(metric);
  // per metric code, its index in FIGURES (−1: not tabulated); sums per epoch indexed by layer × figure
  const fig = Int32Array.from(c.metrics, (m) => FIGURES.indexOf(m));
  const L = t.facts.layers.length + 1, F = FIGURES.length;
  const sums = new Map<number, { s: Float64Array; n: Float64Array }>();
  for (let i = 0; i < c.length; i++) {
    const p = c.probe[i];
    if (p === timingId) continue;
    if (p === evalId) {
      const e = evals.get(c.epoch[i]) ?? {};
      e[c.metrics[c.metric[i]]] = c.value[i];
      evals.set(c.epoch[i], e);
      continue;
    }
    const code = c.metric[i], f = fig[code];
    if (f >= 0 && c.layer[i] < L) {
      let a = sums.get(c.epoch[i]);
      if (!a) sums.set(c.epoch[i], (a = { s: new Float64Array(L * F), n: new Float64Array(L * F) }));
      a.s[c.layer[i] * F + f] += c.value[i]; a.n[c.layer[i] * F + f]++;
    }
    if (code === mId && c.layer[i] === layer) series.set(c.step[i], c.value[i]);
  }
  const epochMeans = new Map([...sums].map(([e, a]) => {
    const m = new Map<string, number>();
    for (let l = 0; l < L; l++) for (let f = 0; f < F; f++) if (a.n[l * F + f] > 0) m.set(`${l}/${FIGURES[f]}`, a.s[l * F + f] / a.n[l * F + f]);
    return [e, m];
  }));
  const { columns: _c, ...meta } = t;
  void _c;
  return { trace: meta, metrics: c.metrics, epochMeans, evals, series, diagnosis: diagnoseTrace(t) };
}

/** The line above the divergence list; with one group, that there is nothing to set against it. */
export function divergenceHeading(c: Pick<Comparison, 'metric' | 'layer' | 'tol' | 'groups'>): string {
  const what = `${c.metric} (${c.layer === 0 ? 'network' : `layer ${c.layer}`})`;
  if (c.groups.length === 0) return `${what}: no runs`;
  if (c.groups.length === 1) return `${what}: one group (${c.groups[0].label}), nothing to set against it; give runs of other combinations or settings to compare`;
  return `${what} against ${c.groups[0].label}, tolerance ${c.tol}:`;
}

/**
 * What a divergence says, in words shared by the terminal and the --html page: nothing compared
 * is "no data", never "never diverges".
 */
export function divergenceText(d: Divergence, tol: number, fmt: (v: number) => string = (v) => v.toPrecision(4)): { kind: 'none' | 'same' | 'diverges'; text: string } {
  if (d.compared === 0) return { kind: 'none', text: 'no data: no step where both it and the reference have a finite value' };
  if (d.step === null) return { kind: 'same', text: `never diverges beyond ${tol} (largest difference ${fmt(d.maxDiff ?? 0)} over ${d.compared} step(s))` };
  return { kind: 'diverges', text: `diverges at step ${d.step} (epoch ${d.epoch}) beyond ${tol}; largest difference ${fmt(d.maxDiff ?? 0)}` };
}

const cell = (xs: readonly (number | null | undefined)[]): Cell => {
  const v = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  return { mean: v.length ? mean(v) : null, sd: v.length > 1 ? sd(v) : null, n: v.length };
};

const COMPARE_OPTION_KEYS = optionKeys<CompareOptions>({ metric: 1, layer: 1, epochs: 1, tol: 1, combos: 1, by: 1 });

export function compareTraces(paths: readonly string[], opts: CompareOptions = {}): Comparison {
  checkOptions('compareTraces', opts, COMPARE_OPTION_KEYS);
  const metric = opts.metric ?? Metric.loss;
  const layer = opts.layer ?? 0;
  const tol = opts.tol ?? 0.05;
  // the combination is in the footer: traces that --combos leaves out are never read whole
  if (typeof opts.combos === 'string' && opts.combos.split(',').every((p) => p.trim() === '')) throw new ProbeError(ErrorCode.config, msg.emptyPatterns(opts.combos, null));
  const kept = opts.combos ? paths.filter((p) => matches(readTraceMeta(p).facts.combo, opts.combos!)) : paths;
  if (opts.combos && kept.length === 0) throw new ProbeError(ErrorCode.config, msg.noMatch(opts.combos, paths.length));
  const loaded = kept.map((p) => load(p, metric, layer));
  const known = [...new Set(loaded.flatMap((l) => l.metrics))].filter((m) => !([...EVAL_METRICS, ...TIMING_METRICS] as readonly string[]).includes(m));
  if (!loaded.some((l) => l.series.size > 0)) throw new ProbeError(ErrorCode.config, msg.unknownMetric(`${metric}' at layer '${layer}`, known));
  // group runs that differ only by seed, or (--by) that share the given settings
  const by = opts.by?.length ? checkGroupKeys(opts.by) : null;
  const keyOf = (l: Loaded) => (by ? JSON.stringify(groupValues(l.trace, by)) : JSON.stringify(flatConfig(l.trace.config.raw)));
  const byKey = new Map<string, Loaded[]>();
  for (const l of loaded) byKey.set(keyOf(l), [...(byKey.get(keyOf(l)) ?? []), l]);
  const members = [...byKey.values()];
  const groups: Group[] = members.map((ls) => {
    const seeds = ls.map((l) => l.trace.facts.seed).sort((a, b) => a - b);
    const combo = ls[0].trace.facts.combo;
    const byLabel = by ? Object.entries(groupValues(ls[0].trace, by)).map(([k, v]) => settingLabel(k, v)).join(' · ') : null;
    return {
      key: keyOf(ls[0]), combo, seeds, runs: ls.map((l) => l.trace.run),
      label: byLabel ? `${byLabel} (${ls.length} run${ls.length > 1 ? 's' : ''})` : ls.length > 1 ? `${combo} (${ls.length} seeds)` : ls[0].trace.run, config: ls[0].trace.config.raw,
      truncated: ls.filter((l) => l.trace.truncated).length,
      diverged: ls.filter((l) => l.trace.status === RunStatus.diverged).length,
      stopped: ls.filter((l) => l.trace.status === RunStatus.stopped).length,
    };
  });
  // disambiguate labels of groups with the same combination but other settings
  const seen = new Map<string, number>();
  groups.forEach((g, i) => { const n = (seen.get(g.label) ?? 0) + 1; seen.set(g.label, n); if (n > 1) (groups[i] as { label: string }).label = `${g.label} #${n}`; });
  const flat = groups.map((g) => flatConfig(g.config));
  const keys = [...new Set(flat.flatMap((f) => Object.keys(f)))].sort();
  // grouped --by settings: the table shows those; what else differs within a group is said
  const configDiffs = by
    ? by.map((k) => ({ key: k, values: members.map((ls) => String(groupValues(ls[0].trace, [k])[k] ?? '—')) }))
    : keys.filter((k) => new Set(flat.map((f) => f[k])).size > 1).map((k) => ({ key: k, values: flat.map((f) => f[k] ?? '—') }));
  const pooled = by ? members.flatMap((ls, i) => {
    const fs = ls.map((l) => flatConfig(l.trace.config.raw));
    const differ = [...new Set(fs.flatMap((f) => Object.keys(f)))].filter((k) => k !== 'combo' && new Set(fs.map((f) => f[k])).size > 1);
    return differ.length ? [msg.pooledGroup(groups[i].label, differ)] : [];
  }) : [];
  const lastEpoch = Math.min(...members.map((ls) => Math.max(0, ...ls.flatMap((l) => [...l.evals.keys()]))));
  const epochs = opts.epochs?.length ? opts.epochs : lastEpoch > 0 ? [lastEpoch] : [];
  const finished = new Set(loaded.flatMap((l) => [...l.evals.keys()]));
  for (const e of epochs) if (!finished.has(e)) throw new ProbeError(ErrorCode.config, msg.noSuchEpoch(e, Math.max(0, ...finished)));
  // layers are lined up by number: say so when that pairs layers of different shapes
  const shapes = [...new Set(loaded.map((l) => [l.trace.facts.layers[0]?.fanIn, ...l.trace.facts.layers.map((x) => x.fanOut)].join('→')))];
  const warnings = [...(shapes.length > 1 ? [msg.mixedArchitectures(shapes)] : []), ...pooled];
  const rows: CompareRow[] = [];
  for (const e of epochs) {
    rows.push({ section: 'accuracy', label: `test acc, epoch ${e}`, layer: 0, metric: 'test_acc', epoch: e, cells: members.map((ls) => cell(ls.map((l) => l.evals.get(e)?.test_acc))) });
    rows.push({ section: 'accuracy', label: `test loss, epoch ${e}`, layer: 0, metric: 'test_loss', epoch: e, cells: members.map((ls) => cell(ls.map((l) => l.evals.get(e)?.test_loss))) });
  }
  const layers = Math.max(...loaded.map((l) => l.trace.facts.layers.length));
  for (const e of epochs) for (let L = 1; L <= layers; L++) for (const m of FIGURES) {
    const cells = members.map((ls) => cell(ls.map((l) => l.epochMeans.get(e)?.get(`${L}/${m}`))));
    if (cells.some((c) => c.n > 0)) rows.push({ section: `layer ${L}`, label: `${m}, epoch ${e}`, layer: L, metric: m, epoch: e, cells });
  }
  // the chosen metric per step, mean over seeds, and where it leaves the reference
  const perSeeds = members.map((ls) => {
    const steps = new Map<number, number[]>();
    for (const l of ls) for (const [s, v] of l.series) { const vs = steps.get(s); if (vs) vs.push(v); else steps.set(s, [v]); }
    return steps;
  });
  const perStep = perSeeds.map((steps) => new Map([...steps].map(([s, vs]) => [s, mean(vs)])));
  const ref = perStep[0];
  const spe = loaded[0].trace.facts.stepsPerEpoch;
  const divergence: Divergence[] = perStep.slice(1).map((m, i) => {
    // a step counts only where both have a finite value: a NaN difference is no evidence either way
    let first: number | null = null, maxDiff = 0, compared = 0;
    for (const [s, v] of [...m].sort((a, b) => a[0] - b[0])) {
      const r = ref.get(s);
      if (r === undefined || !Number.isFinite(r) || !Number.isFinite(v)) continue;
      compared++;
      const d = Math.abs(v - r);
      if (d > maxDiff) maxDiff = d;
      if (first === null && d > tol) first = s;
    }
    return { group: groups[i + 1].label, step: first, epoch: first === null ? null : Math.floor(first / spe) + 1, maxDiff: compared ? maxDiff : null, compared };
  });
  const series = perSeeds.flatMap((m, i) => [...m].sort((a, b) => a[0] - b[0]).map(([step, vs]) => {
    const finite = vs.filter(Number.isFinite);
    return { group: groups[i].label, step, value: mean(vs), lo: finite.length ? Math.min(...finite) : NaN, hi: finite.length ? Math.max(...finite) : NaN, n: vs.length };
  }));
  const evals = members.flatMap((ls, i) => {
    const es = [...new Set(ls.flatMap((l) => [...l.evals.keys()]))].sort((a, b) => a - b);
    return es.map((epoch) => {
      const accs = ls.map((l) => l.evals.get(epoch)?.test_acc).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
      return { group: groups[i].label, epoch, testAcc: accs.length ? mean(accs) : NaN, lo: accs.length ? Math.min(...accs) : NaN, hi: accs.length ? Math.max(...accs) : NaN, n: accs.length };
    });
  });
  const diagnoses = members.flatMap((ls) => ls.map((l) => l.diagnosis));
  return { groups, configDiffs, rows, metric, layer, tol, divergence, series, evals, warnings, diagnoses };
}
