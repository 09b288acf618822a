/**
 * The statistics the report states, kept small and explicit: means, percentile-bootstrap 95%
 * confidence intervals over runs (seeded, so a report is reproducible), and Spearman's rank
 * correlation.
 */
import { rng } from '../train/rng.js';

export interface Interval {
  readonly estimate: number;
  readonly lo: number;
  readonly hi: number;
}

/** Bootstrap: resamples, and the seed that makes a report reproducible (fixed with the study's rules). */
export const BOOTSTRAP_RESAMPLES = 4000;
export const BOOTSTRAP_SEED = 1;


/** Steps per point when at most `maxPoints` points cover `steps` steps (report and compare charts). */
export function bucketSize(steps: number, maxPoints: number): number {
  return Math.max(1, Math.ceil(steps / maxPoints));
}

/** The first step of the bucket of `size` steps that holds `step`. */
export const bucketStart = (step: number, size: number): number => Math.floor(step / size) * size;
export function mean(xs: readonly number[]): number {
  return xs.reduce((s, x) => s + x, 0) / xs.length;
}

export function sd(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1));
}

function quantile(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q, lo = Math.floor(pos), hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

function percentileInterval(estimate: number, draws: number[]): Interval {
  const finite = draws.filter(Number.isFinite).sort((a, b) => a - b);
  if (finite.length === 0) return { estimate, lo: NaN, hi: NaN };
  return { estimate, lo: quantile(finite, 0.025), hi: quantile(finite, 0.975) };
}

function resample<T>(xs: readonly T[], r: ReturnType<typeof rng>): T[] {
  return Array.from({ length: xs.length }, () => xs[r.int(xs.length)]);
}

function ranks(xs: readonly number[]): number[] {
  const order = xs.map((x, i) => [x, i] as const).sort((p, q) => p[0] - q[0]);
  const out = new Array<number>(xs.length);
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++;
    for (let k = i; k <= j; k++) out[order[k][1]] = (i + j) / 2 + 1; // ties share their mean rank
    i = j + 1;
  }
  return out;
}

function pearson(x: readonly number[], y: readonly number[]): number {
  const mx = mean(x), my = mean(y);
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < x.length; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  return sxx === 0 || syy === 0 ? NaN : sxy / Math.sqrt(sxx * syy);
}

export function spearman(x: readonly number[], y: readonly number[]): number {
  return pearson(ranks(x), ranks(y));
}

/** One run's figures and the cluster it belongs to (its combination). */
export interface Clustered {
  readonly cluster: string;
  readonly x: number;
  /** a second figure of the same run, for correlations */
  readonly y?: number;
  /** the group the run belongs to by design (target, control): resampled separately */
  readonly stratum?: string;
}

function clusters<T extends Clustered>(items: readonly T[]): T[][] {
  const m = new Map<string, T[]>();
  for (const it of items) m.set(it.cluster, [...(m.get(it.cluster) ?? []), it]);
  return [...m.values()];
}

/**
 * Two-stage resample: clusters (combinations) with replacement, then members (seeds) with
 * replacement within each drawn cluster. A group that mixes combinations varies between them as
 * well as between seeds; resampling runs alone would ignore the first.
 */
function resampleClustered<T extends Clustered>(cs: readonly (readonly T[])[], r: ReturnType<typeof rng>): T[] {
  const out: T[] = [];
  for (let k = 0; k < cs.length; k++) out.push(...resample(cs[r.int(cs.length)], r));
  return out;
}

const xs = (items: readonly Clustered[]) => items.map((i) => i.x);

/** Mean of `x` with a two-stage (cluster, then member) bootstrap 95% CI. */
export function clusteredMean(items: readonly Clustered[], seed = BOOTSTRAP_SEED): Interval {
  const r = rng(seed, 'bootstrap-clustered-mean');
  const cs = clusters(items);
  const draws = Array.from({ length: BOOTSTRAP_RESAMPLES }, () => mean(xs(resampleClustered(cs, r))));
  return percentileInterval(mean(xs(items)), draws);
}

/** mean(a) − mean(b), each group resampled on its own in two stages. */
export function clusteredDiff(a: readonly Clustered[], b: readonly Clustered[], seed = BOOTSTRAP_SEED): Interval {
  const r = rng(seed, 'bootstrap-clustered-diff');
  const ca = clusters(a), cb = clusters(b);
  const draws = Array.from({ length: BOOTSTRAP_RESAMPLES }, () => mean(xs(resampleClustered(ca, r))) - mean(xs(resampleClustered(cb, r))));
  return percentileInterval(mean(xs(a)) - mean(xs(b)), draws);
}

/**
 * Spearman ρ(x, y) over the items, with a two-stage bootstrap 95% CI stratified by `stratum`: each
 * design group keeps its place in every resample (a resample with only target runs would measure
 * something else).
 */
export function clusteredSpearman(items: readonly Clustered[], seed = BOOTSTRAP_SEED): Interval {
  const r = rng(seed, 'bootstrap-clustered-spearman');
  const strata = [...new Set(items.map((i) => i.stratum ?? ''))].map((st) => clusters(items.filter((i) => (i.stratum ?? '') === st)));
  const y = (it: readonly Clustered[]) => it.map((i) => i.y ?? NaN);
  const draws = Array.from({ length: BOOTSTRAP_RESAMPLES }, () => { const s = strata.flatMap((cs) => resampleClustered(cs, r)); return spearman(xs(s), y(s)); });
  return percentileInterval(spearman(xs(items), y(items)), draws);
}

export function median(v: readonly number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length === 0 ? NaN : quantile(s, 0.5);
}
