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

export const BOOTSTRAP_RESAMPLES = 4000;

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

/** Mean of `xs` with a bootstrap 95% CI (resampling the runs). */
export function bootstrapMean(xs: readonly number[], seed = 1): Interval {
  const r = rng(seed, 'bootstrap-mean');
  const draws = Array.from({ length: BOOTSTRAP_RESAMPLES }, () => mean(resample(xs, r)));
  return percentileInterval(mean(xs), draws);
}

/** mean(a) − mean(b) with a bootstrap 95% CI, each group resampled on its own. */
export function bootstrapDiff(a: readonly number[], b: readonly number[], seed = 1): Interval {
  const r = rng(seed, 'bootstrap-diff');
  const draws = Array.from({ length: BOOTSTRAP_RESAMPLES }, () => mean(resample(a, r)) - mean(resample(b, r)));
  return percentileInterval(mean(a) - mean(b), draws);
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

/** Spearman's ρ with a bootstrap 95% CI (resampling (x, y) pairs). */
export function bootstrapSpearman(x: readonly number[], y: readonly number[], seed = 1): Interval {
  const r = rng(seed, 'bootstrap-spearman');
  const idx = x.map((_, i) => i);
  const draws = Array.from({ length: BOOTSTRAP_RESAMPLES }, () => {
    const s = resample(idx, r);
    return spearman(s.map((i) => x[i]), s.map((i) => y[i]));
  });
  return percentileInterval(spearman(x, y), draws);
}
