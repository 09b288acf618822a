/**
 * Tests the study's two explanations on a set of runs, with rules fixed before the data (study.ts).
 *
 * Groups, by the activations of the last two layers (hidden layer L−1, output layer L):
 *   target  (sigmoid, relu)                  — the combination that trains badly
 *   C1      (tanh | relu | selu, relu)       — the sigmoid changed, the output ReLU kept
 *   C2      (sigmoid, tanh | sigmoid | selu) — the output ReLU changed, the sigmoid kept
 *
 * Prevalence (no hypothesis): a run fails when its final test accuracy is at or near chance (at
 * most 1/classes + FAIL_MARGIN, with or without controls), or more than FAIL_MARGIN below the
 * median of the controls (C1 ∪ C2); the share of failing target runs, per combination and overall.
 *
 * Each hypothesis has one primary measure that is its own statement, read on the test set at the
 * last evaluation (H1: share of (input, output unit) pairs with z ≤ 0 at the output ReLU; H2: share
 * of (input, unit) pairs of the layer before the output at the sigmoid's extremes), and a cause
 * checked per misclassified input (H1: the true class's output unit has z ≤ 0; H2: most units of
 * the layer before the output are at their extremes for that input). Four claims, each with a
 * 95% interval from a two-stage bootstrap (combinations, then seeds within them; for C within each
 * group separately, so that every resample holds both groups):
 *   A  present: over the failing target runs, mean measure > MOST;
 *   M  accounts: over the failing target runs, mean share of errors the cause covers > COVERS;
 *   B  specific: mean measure in the target group − in the control (C1 for H1, C2 for H2) > 0;
 *   C  dose–response: Spearman ρ(measure, final test accuracy) over target ∪ control < 0.
 * Verdict: supported if every claim's interval lies on its predicted side; not supported if any
 * claim's interval lies entirely on the other side; inconclusive otherwise. A and M need at least
 * MIN_RUNS failing target runs, B and C at least MIN_RUNS runs in each group. Stricter and looser
 * variants of the measure are reported beside it (claims A and B) and never decide the verdict.
 */
import type { RunDigest } from '../read/digest.js';
import { diagValue } from '../read/digest.js';
import { clusteredDiff, clusteredMean, clusteredSpearman, mean, median, type Clustered, type Interval } from '../read/stats.js';
import { COVERS, errorShare, FAIL_MARGIN, GROUPS, HYPOTHESES, MIN_RUNS, MOST, type HypothesisId } from './study.js';

export { MIN_RUNS };

export type Group = 'target' | 'C1' | 'C2' | 'other';
export type Verdict = 'supported' | 'not supported' | 'inconclusive';
export type ClaimId = 'A' | 'M' | 'B' | 'C';

/** The study group of a run with these activations (input → output), as study.ts lists them. */
export function groupOf(acts: readonly string[]): Group {
  if (acts.length < 2) return 'other';
  const [a, b] = acts.slice(-2);
  for (const g of ['target', 'C1', 'C2'] as const) {
    if ((GROUPS[g].hidden as readonly string[]).includes(a) && (GROUPS[g].output as readonly string[]).includes(b)) return g;
  }
  return 'other';
}

export interface Claim {
  readonly id: ClaimId;
  readonly text: string;
  readonly statistic: string;
  readonly interval: Interval | null;
  readonly n: string;
  /** true: CI on the predicted side; false: entirely on the other side; null: straddles or not computable */
  readonly holds: boolean | null;
  readonly rule: string;
  /** the line the interval must clear */
  readonly threshold: number;
  /** why there is no interval, when there is none */
  readonly missing?: string;
}

export interface RunMeasure {
  readonly run: string;
  readonly combo: string;
  readonly seed: number;
  readonly group: Group;
  readonly measure: number;
  readonly acc: number;
  readonly failed: boolean;
  /** which rule decided it failed */
  readonly failedBy: FailedBy | null;
  /** share of the run's errors the hypothesis' cause covers at the last evaluation; null if no errors */
  readonly covers: number | null;
}

export interface Robustness {
  readonly metric: string;
  readonly label: string;
  /** mean over the failing target runs (claim A's statistic) */
  readonly present: Interval | null;
  /** target − control (claim B's statistic) */
  readonly specific: Interval | null;
}

export interface HypothesisResult {
  readonly id: HypothesisId;
  /** the dataset and batch-norm setting of the runs tested */
  readonly variant: string;
  readonly title: string;
  readonly measure: string;
  readonly metric: string;
  readonly cause: string;
  readonly control: 'C1' | 'C2';
  readonly claims: readonly Claim[];
  readonly verdict: Verdict;
  readonly reason: string;
  readonly runs: readonly RunMeasure[];
  readonly robustness: readonly Robustness[];
}

export interface Prevalence {
  readonly variant: string;
  /** median final accuracy of C1 ∪ C2; null without controls */
  readonly controlMedian: number | null;
  /** runs below this accuracy fail */
  readonly failBelow: number | null;
  readonly controls: number;
  readonly controlsFailing: number;
  readonly targetRuns: number;
  readonly targetFailing: number;
  /** share of failing target runs, two-stage bootstrap over combinations and seeds */
  readonly share: Interval | null;
  readonly perCombo: readonly { readonly combo: string; readonly group: Group; readonly failing: number; readonly runs: number; readonly meanAcc: number }[];
}

const side = (i: Interval | null, line: number, above: boolean): boolean | null => {
  if (!i || !Number.isFinite(i.lo) || !Number.isFinite(i.hi)) return null;
  if (above) return i.lo > line ? true : i.hi < line ? false : null;
  return i.hi < line ? true : i.lo > line ? false : null;
};
export const fmtInterval = (i: Interval) => `${i.estimate.toFixed(3)} [${i.lo.toFixed(3)}, ${i.hi.toFixed(3)}]`;

/** How a run's failure was decided: at or near chance (any run), or below the controls' median − FAIL_MARGIN. */
export type FailedBy = 'chance' | 'controls';

/**
 * Whether a finished run fails, and by which rule: its final test accuracy at or near chance
 * (read/diagnose.ts's line, 1/classes + FAIL_MARGIN, compared at the trace's float32 precision),
 * else below the controls' rule when the variant has controls.
 */
export function failureOf(d: RunDigest, rule: { readonly below: number | null }): FailedBy | null {
  if (d.finalTestAcc === null) return null;
  const line = d.health.verdict.chanceLine;
  if (line !== null && Math.fround(d.finalTestAcc) <= Math.fround(line)) return 'chance';
  if (rule.below !== null && d.finalTestAcc < rule.below) return 'controls';
  return null;
}

/** The failure rule of a variant: the controls' median accuracy minus FAIL_MARGIN. */
export function failRule(digests: readonly RunDigest[]): { median: number | null; below: number | null; controls: number } {
  const accs = digests.filter((d) => ['C1', 'C2'].includes(groupOf(d.acts)) && d.finalTestAcc !== null).map((d) => d.finalTestAcc as number);
  if (accs.length === 0) return { median: null, below: null, controls: 0 };
  const m = median(accs);
  return { median: m, below: m - FAIL_MARGIN, controls: accs.length };
}

export function prevalence(digests: readonly RunDigest[], variant = digests[0]?.variant ?? 'mnist'): Prevalence {
  const rule = failRule(digests);
  const done = digests.filter((d) => d.finalTestAcc !== null);
  const failed = (d: RunDigest) => failureOf(d, rule) !== null;
  const target = done.filter((d) => groupOf(d.acts) === 'target');
  const controls = done.filter((d) => ['C1', 'C2'].includes(groupOf(d.acts)));
  const byCombo = new Map<string, RunDigest[]>();
  for (const d of done) byCombo.set(d.combo, [...(byCombo.get(d.combo) ?? []), d]);
  const share = target.length >= MIN_RUNS ? clusteredMean(target.map((d) => ({ cluster: d.combo, x: failed(d) ? 1 : 0 }))) : null;
  return {
    variant, controlMedian: rule.median, failBelow: rule.below, controls: controls.length, controlsFailing: controls.filter(failed).length,
    targetRuns: target.length, targetFailing: target.filter(failed).length, share,
    perCombo: [...byCombo.entries()].map(([combo, ds]) => ({
      combo, group: groupOf(ds[0].acts), failing: ds.filter(failed).length, runs: ds.length, meanAcc: mean(ds.map((d) => d.finalTestAcc as number)),
    })).sort((a, b) => ['target', 'C1', 'C2', 'other'].indexOf(a.group) - ['target', 'C1', 'C2', 'other'].indexOf(b.group) || a.combo.localeCompare(b.combo)),
  };
}

/** The hypothesis' primary (or variant) measure of a run, or null if the run lacks it. */
export function measureOf(d: RunDigest, h: (typeof HYPOTHESES)[number], metric: string = h.primary): number | null {
  return diagValue(d, d.acts.length - h.layerFromOut, metric);
}

export function testHypothesis(h: (typeof HYPOTHESES)[number], digests: readonly RunDigest[], variant = digests[0]?.variant ?? 'mnist'): HypothesisResult {
  const rule = failRule(digests);
  const runs: RunMeasure[] = [];
  for (const d of digests) {
    const group = groupOf(d.acts);
    const m = measureOf(d, h);
    if ((group === 'target' || group === h.control) && m !== null && d.finalTestAcc !== null) {
      runs.push({
        run: d.run, combo: d.combo, seed: d.seed, group, measure: m, acc: d.finalTestAcc,
        failed: failureOf(d, rule) !== null, failedBy: failureOf(d, rule),
        covers: diagValue(d, 0, errorShare(h.cause)),
      });
    }
  }
  const item = (r: RunMeasure, x: number): Clustered => ({ cluster: r.combo, x, y: r.acc, stratum: r.group });
  const target = runs.filter((r) => r.group === 'target'), control = runs.filter((r) => r.group === h.control);
  const failing = target.filter((r) => r.failed);
  const enough = target.length >= MIN_RUNS && control.length >= MIN_RUNS;
  const enoughFailing = failing.length >= MIN_RUNS;
  const covered = failing.filter((r) => r.covers !== null);
  const a = enoughFailing ? clusteredMean(failing.map((r) => item(r, r.measure))) : null;
  const mm = covered.length >= MIN_RUNS ? clusteredMean(covered.map((r) => item(r, r.covers as number))) : null;
  const b = enough ? clusteredDiff(target.map((r) => item(r, r.measure)), control.map((r) => item(r, r.measure))) : null;
  const rho = enough ? clusteredSpearman(runs.map((r) => item(r, r.measure))) : null;
  // ρ is undefined when either side does not vary (ranks all tied): say so, never "includes the threshold"
  const same = (v: readonly number[]) => v.length > 0 && v.every((x) => x === v[0]);
  const tied = rho && !Number.isFinite(rho.estimate)
    ? same(runs.map((r) => r.measure)) ? `ρ is undefined: the measure is ${runs[0].measure.toFixed(3)} in all ${runs.length} runs`
      : same(runs.map((r) => r.acc)) ? `ρ is undefined: the accuracy is ${runs[0].acc.toFixed(3)} in all ${runs.length} runs` : 'ρ is undefined'
    : null;
  const c = tied ? null : rho;
  const flat = b && same([...target, ...control].map((r) => r.measure)) ? `the measure is ${target[0].measure.toFixed(3)} in every run of both groups` : null;
  const fewFailing = `needs ${MIN_RUNS} failing target runs, has ${failing.length}${rule.below === null ? ' (no control runs: only runs at or near chance count as failing)' : ''}`;
  const fewRuns = `needs ${MIN_RUNS} runs in the target group and in ${h.control}, has ${target.length} and ${control.length}`;
  const claims: Claim[] = [
    {
      id: 'A', text: 'present where the target group fails', threshold: MOST, rule: `CI above ${MOST}`,
      statistic: a ? `mean ${fmtInterval(a)}` : failing.length ? `mean ${mean(failing.map((r) => r.measure)).toFixed(3)} (no CI)` : '—',
      interval: a, n: `${failing.length} failing target runs`, holds: side(a, MOST, true), ...(a ? {} : { missing: fewFailing }),
    },
    {
      id: 'M', text: `its cause (${h.cause}) covers most errors of the failing runs`, threshold: COVERS, rule: `CI above ${COVERS}`,
      statistic: mm ? `mean share of errors ${fmtInterval(mm)}` : covered.length ? `mean ${mean(covered.map((r) => r.covers as number)).toFixed(3)} (no CI)` : '—',
      interval: mm, n: `${covered.length} failing target runs`, holds: side(mm, COVERS, true), ...(mm ? {} : { missing: enoughFailing ? `needs ${MIN_RUNS} failing target runs with error attribution, has ${covered.length}` : fewFailing }),
    },
    {
      id: 'B', text: `higher in the target group than in ${h.control}`, threshold: 0, rule: 'CI above 0',
      statistic: b ? `difference ${fmtInterval(b)}` : '—', interval: b, n: `${target.length} vs ${control.length} runs`, holds: side(b, 0, true), ...(b ? flat ? { missing: flat } : {} : { missing: fewRuns }),
    },
    {
      id: 'C', text: 'goes with lower accuracy', threshold: 0, rule: 'CI below 0',
      statistic: c ? `Spearman ρ ${fmtInterval(c)}` : tied ? 'Spearman ρ undefined' : '—', interval: c, n: `${runs.length} runs`, holds: side(c, 0, false), ...(c ? {} : { missing: tied ?? fewRuns }),
    },
  ];
  let verdict: Verdict, reason: string;
  const list = (p: (x: Claim) => boolean) => claims.filter(p).map((x) => x.id).join(', ');
  if (claims.some((x) => x.holds === false)) {
    verdict = 'not supported';
    reason = `claim ${list((x) => x.holds === false)} has its interval entirely on the wrong side`;
  } else if (claims.every((x) => x.holds === true)) {
    verdict = 'supported';
    reason = 'every claim has its interval on the predicted side';
  } else {
    verdict = 'inconclusive';
    const undecided = claims.filter((x) => x.holds === null);
    reason = undecided.map((x) => `${x.id}: ${x.missing ?? 'its interval includes the threshold'}`).join('; ');
  }
  const held = list((x) => x.holds === true);
  if (held && verdict !== 'supported') reason += `; holding: ${held}`;
  const robustness: Robustness[] = h.variants.map((v) => {
    const val = (r: RunMeasure) => measureOf(digests.find((d) => d.run === r.run && d.variant === variant) as RunDigest, h, v.metric);
    const withV = (rs: RunMeasure[]) => rs.map((r) => ({ r, v: val(r) })).filter((x): x is { r: RunMeasure; v: number } => x.v !== null).map((x) => item(x.r, x.v));
    const f = withV(failing), t = withV(target), ctl = withV(control);
    return {
      metric: v.metric, label: v.label,
      present: f.length >= MIN_RUNS ? clusteredMean(f) : null,
      specific: t.length >= MIN_RUNS && ctl.length >= MIN_RUNS ? clusteredDiff(t, ctl) : null,
    };
  });
  return { id: h.id, variant, title: h.title, measure: h.measure, metric: h.primary, cause: h.cause, control: h.control, claims, verdict, reason, runs, robustness };
}

/** Each hypothesis, tested separately on the runs of each variant (dataset, batch norm). */
export function testHypotheses(digests: readonly RunDigest[]): HypothesisResult[] {
  return variantsOf(digests).flatMap((v) => HYPOTHESES.map((h) => testHypothesis(h, digests.filter((d) => d.variant === v), v)));
}

export function prevalences(digests: readonly RunDigest[]): Prevalence[] {
  return variantsOf(digests).map((v) => prevalence(digests.filter((d) => d.variant === v), v));
}

function variantsOf(digests: readonly RunDigest[]): string[] {
  const variants = [...new Set(digests.map((d) => d.variant))].sort();
  return variants.length ? variants : ['mnist'];
}
