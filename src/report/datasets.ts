/**
 * The tables behind the charts, built from digests. With more runs than {@link PER_RUN_LIMIT},
 * per-step series are averaged over the seeds of each combination (the page says so).
 */
import { QUANTILES } from '../trace/metrics.js';
import type { RunDigest } from '../read/digest.js';
import { groupOf, measureOf, type HypothesisResult } from '../study/hypotheses.js';
import type { Diagnosis } from '../study/diagnosis-line.js';
import { CAUSE_SETS, errorCell, errorShare, Cause, HYPOTHESES } from '../study/study.js';
import { bucketSize, bucketStart, mean, sd } from '../read/stats.js';
import { thresholdRows } from './thresholds.js';

export const PER_RUN_LIMIT = 24;
export const AGGREGATED_POINTS = 100;

import type { Row } from '../page/shell.js';
export type { Row };

export interface Datasets {
  /** per-step series, keyed by `pick` (a run, or a combination when aggregated) */
  readonly series: Row[];
  /**
   * the buckets of {@link series} holding steps whose value is exactly 0: their share (`zero`), the
   * mean of the other steps (`nz`, null when all are 0) and where the bucket ends; the page joins
   * them to their series rows (few rows: most series have none)
   */
  readonly zeros: Row[];
  /**
   * per pick and share metric, the thresholds of the rules that read it (thresholds.ts): `label`
   * (a line per rule) and `detail`; the share's chart draws each as a dashed rule
   */
  readonly thresholds: Row[];
  /** quantile bands of z and a per layer (the distribution probe), keyed by `pick` */
  readonly quantiles: Row[];
  /** share of samples each unit of a small layer is active, keyed by `pick` */
  readonly units: Row[];
  readonly evals: Row[];
  readonly runs: Row[];
  readonly grid: Row[];
  /** one row per unit that died (alive ones have no mark) */
  readonly deaths: Row[];
  readonly claims: Row[];
  /** per run and cell of the causes' Venn diagram: share of the run's errors (last evaluation) */
  readonly attribution: Row[];
  /** values of the run selector, the first being the default */
  readonly picks: string[];
  readonly aggregated: boolean;
  /** more than one dataset/batch-norm setting among the runs */
  readonly variants: readonly string[];
}

/** A layer as legends name it: `3 · relu (out)`; layer 0 is the whole network. */
export function layerName(layer: number, acts: readonly string[]): string {
  if (layer === 0) return 'network';
  return `${layer} · ${acts[layer - 1] ?? '?'}${layer === acts.length ? ' (out)' : ''}`;
}

/** A run's name without its seed: the runs that differ only by seed share it (overlays use it). */
export const familyOf = (run: string): string => run.replace(/_s\d+$/, '');

/** 4 significant digits: enough to draw, and it keeps the page small. */
const r4 = (v: number | null): number | null => (v === null || !Number.isFinite(v) ? null : Number(v.toPrecision(4)));

/**
 * The page's tables. `training`: paths of runs still training (probe watch): the page opens on
 * one of them, the run its reader is watching, not on a finished one.
 */
export function buildDatasets(digests: readonly RunDigest[], hyps: readonly HypothesisResult[], diagnoses: ReadonlyMap<string, Diagnosis> = new Map(), training: ReadonlySet<string> = new Set()): Datasets {
  const aggregated = digests.length > PER_RUN_LIMIT;
  const several = new Set(digests.map((d) => d.variant)).size > 1;
  const pickOf = (d: RunDigest) => (aggregated ? (several ? `${d.combo} (${d.variant})` : d.combo) : d.run);
  const series: Row[] = [], zeros: Row[] = [];
  // the mean of a bucket's other steps: its mean over all, without the zeros
  const nzOf = (value: number, zero: number) => (zero < 1 ? r4(value / (1 - zero)) : null);
  if (aggregated) {
    // coarser buckets too: one line per combination, at most AGGREGATED_POINTS points
    const maxStep = digests.reduce((m, d) => d.series.reduce((mm, p) => Math.max(mm, p.step + 1), m), 1);
    const bucket = bucketSize(maxStep, AGGREGATED_POINTS);
    const acc = new Map<string, { pick: string; layer: number; metric: string; step: number; xs: number[]; zs: number[]; nzs: number[] }>();
    for (const d of digests) for (const p of d.series) {
      const step = bucketStart(p.step, bucket);
      const k = `${pickOf(d)}|${p.layer}|${p.metric}|${step}`;
      const a = acc.get(k) ?? { pick: pickOf(d), layer: p.layer, metric: p.metric, step, xs: [], zs: [], nzs: [] };
      a.xs.push(p.value); a.zs.push(p.zero);
      if (p.zero < 1) a.nzs.push(p.value / (1 - p.zero));
      acc.set(k, a);
    }
    const actsOf = new Map(digests.map((d) => [pickOf(d), d.acts]));
    for (const a of acc.values()) {
      const row = { pick: a.pick, family: a.pick, layer: a.layer, layerName: layerName(a.layer, actsOf.get(a.pick) ?? []), metric: a.metric, step: a.step };
      series.push({ ...row, value: r4(mean(a.xs)) });
      const zero = mean(a.zs);
      if (zero > 0) zeros.push({ ...row, stepEnd: a.step + bucket, zero: r4(zero), nz: a.nzs.length ? r4(mean(a.nzs)) : null });
    }
  } else {
    for (const d of digests) for (const p of d.series) {
      const row = { pick: d.run, family: familyOf(d.run), layer: p.layer, layerName: layerName(p.layer, d.acts), metric: p.metric, step: p.step };
      series.push({ ...row, value: r4(p.value) });
      if (p.zero > 0) zeros.push({ ...row, stepEnd: p.step + d.bucket, zero: r4(p.zero), nz: nzOf(p.value, p.zero) });
    }
  }
  // bands and strips of one run at a time (of the first seed of a combination when aggregated)
  const quantiles: Row[] = [], units: Row[] = [];
  const shown = new Set<string>();
  for (const d of digests) {
    const pick = pickOf(d);
    if (shown.has(pick)) continue;
    shown.add(pick);
    for (const q of d.quantiles) {
      quantiles.push({ pick, layer: q.layer, layerName: layerName(q.layer, d.acts), of: q.of, step: q.step, ...Object.fromEntries(QUANTILES.map((p, i) => [`p${p}`, r4(q.q[i])])) });
    }
    for (const u of d.units) units.push({ pick, layer: u.layer, layerName: layerName(u.layer, d.acts), unit: u.unit, step: u.step, stepEnd: u.step + d.stripBucket, value: r4(u.value) });
  }
  // a run fails at or near chance (any run), or by the study's rule against its controls: the first that applies says how
  const studyFailed = new Map(hyps.flatMap((h) => h.runs.map((r) => [`${h.variant}|${r.run}`, r.failedBy] as const)));
  const failedHow = (d: RunDigest): string | null => {
    const by = studyFailed.get(`${d.variant}|${d.run}`);
    if (by === 'controls') return "more than 10 points below the controls' median";
    if (d.health.verdict.failing === true || by === 'chance') return d.health.verdict.text;
    return null;
  };
  const multi = new Set(digests.map((d) => d.variant)).size > 1;
  const runs: Row[] = digests.map((d) => ({
    run: d.run, pick: pickOf(d), combo: d.combo, variant: d.variant, seed: d.seed, group: d.study ? groupOf(d.acts) : 'other', study: d.study,
    l1: d.acts[0] ?? null, l2: d.acts[1] ?? null, l3: d.acts[2] ?? null,
    finalAcc: r4(d.finalTestAcc), truncated: d.truncated, epochs: d.epochsDone,
    h1: r4(measureOf(d, HYPOTHESES[0])), h2: r4(measureOf(d, HYPOTHESES[1])),
    failed: failedHow(d) !== null ? true : d.health.verdict.failing === null && !studyFailed.has(`${d.variant}|${d.run}`) ? null : false,
    failedHow: failedHow(d),
    errors: r4(diagnoses.get(d.path)?.errors ?? null),
    ...Object.fromEntries(Object.values(Cause).map((c) => [errorShare(c), r4(diagnoses.get(d.path)?.causes[c] ?? null)])),
    diagnosis: [d.health.headline, ...d.health.findings.map((f) => f.text)].join('; '),
    studyLine: d.study ? diagnoses.get(d.path)?.text ?? null : null,
  }));
  const attribution: Row[] = digests.flatMap((d) => CAUSE_SETS.map((set) => ({
    run: d.run, combo: d.combo, variant: d.variant, group: groupOf(d.acts), cell: set.length ? set.join(' + ') : 'no candidate cause',
    share: r4(d.diag[`0/${errorCell(set)}`] ?? null),
  })).filter((r) => r.share !== null && (r.share as number) > 0));
  const evals: Row[] = digests.flatMap((d) => d.evals.map((e) => ({
    run: d.run, pick: pickOf(d), combo: d.combo, seed: d.seed, epoch: e.epoch, step: e.step,
    testAcc: r4(e.testAcc), testLoss: r4(e.testLoss), trainLoss: r4(e.trainLoss),
  })));
  const byCombo = new Map<string, RunDigest[]>();
  for (const d of digests) if (d.study && d.acts.length === 3 && d.finalTestAcc !== null) byCombo.set(`${d.variant}|${d.combo}`, [...(byCombo.get(`${d.variant}|${d.combo}`) ?? []), d]);
  const grid: Row[] = [...byCombo.values()].map((ds) => {
    const accs = ds.map((d) => d.finalTestAcc as number);
    const m = mean(accs), s = sd(accs);
    return { combo: ds[0].combo, variant: ds[0].variant, l1: ds[0].acts[0], l2: ds[0].acts[1], l3: ds[0].acts[2], mean: r4(m), sd: r4(s), n: accs.length,
      label: `${(100 * m).toFixed(1)}${accs.length > 1 ? ` ± ${(100 * s).toFixed(1)}` : ''}` };
  });
  // units that died only: the chart draws no mark for a living one, and a study has ~400 k of them
  const deaths: Row[] = digests.flatMap((d) => d.deaths.filter((u) => u.step !== null).map((u) => ({
    run: d.run, combo: d.combo, seed: d.seed, layer: u.layer, unit: u.unit, step: u.step, epoch: u.step === null ? null : Math.floor(u.step / d.stepsPerEpoch) + 1,
  })));
  const claims: Row[] = hyps.flatMap((h) => h.claims.filter((c) => c.interval).map((c) => ({
    hypothesis: h.id, variant: h.variant, claim: `${h.id}·${c.id} ${c.text}${multi ? ` (${h.variant})` : ''}`, estimate: r4(c.interval!.estimate), lo: r4(c.interval!.lo), hi: r4(c.interval!.hi),
    threshold: c.threshold, holds: c.holds === null ? 'undecided' : c.holds ? 'as predicted' : 'against',
  })));
  // default selection: a run training now, else a target-group run if there is one
  const all = [...new Set(digests.map(pickOf))];
  const first = digests.find((d) => training.has(d.path)) ?? digests.find((d) => d.study && groupOf(d.acts) === 'target');
  const picks = first ? [pickOf(first), ...all.filter((p) => p !== pickOf(first))] : all;
  return { series, zeros, thresholds: thresholdRows(digests, pickOf), quantiles, units, evals, runs, grid, deaths, claims, attribution, picks, aggregated, variants: [...new Set(digests.map((d) => d.variant))].sort() };
}

/**
 * Series rows with their bucket's zeros joined in (`zero`, `nz`, `stepEnd`), as the page's script
 * joins them: for chart files, which carry their rows without the page.
 */
export function withZeros(series: readonly Row[], zeros: readonly Row[]): Row[] {
  const key = (r: Row) => `${r.pick}|${r.layer}|${r.metric}|${r.step}`;
  const z = new Map(zeros.map((r) => [key(r), r]));
  return series.map((r) => { const m = z.get(key(r)); return m ? { ...r, zero: m.zero, nz: m.nz, stepEnd: m.stepEnd } : r; });
}
