/**
 * Tests the study's two explanations on a set of runs, with rules stated up front.
 *
 * Groups, by the activations of the last two layers (hidden layer L−1, output layer L):
 *   target  (sigmoid, relu)                  — the combination that trains badly
 *   C1      (tanh | relu | selu, relu)       — the sigmoid changed, the output ReLU kept
 *   C2      (sigmoid, tanh | sigmoid | selu) — the output ReLU changed, the sigmoid kept
 *
 * H1 "the output ReLU is dead": measure = dead_rows of the output layer (share of inputs for which
 *    every logit is ≤ 0, i.e. sigmoid(h)·W + b < 0), averaged over the last finished epoch.
 * H2 "the sigmoid saturates": measure = sat_frac of layer L−1 (share of its outputs below 0.01 or
 *    above 0.99 by default), averaged over the last finished epoch.
 *
 * Each hypothesis makes three claims, each tested with a bootstrap 95% CI over runs:
 *   A  in the target group the measure is high: mean > 0.5 ("most inputs" / "most outputs");
 *   B  it is specific to the target group: mean(target) − mean(control) > 0 (C1 for H1, C2 for H2);
 *   C  it goes with failure: Spearman ρ(measure, final test accuracy) < 0 over target ∪ control.
 * Verdict: supported if every claim's CI lies on its predicted side; not supported if any claim's CI
 * lies entirely on the other side; inconclusive otherwise, or with fewer than {@link MIN_RUNS} runs
 * in a group.
 */
import type { RunDigest } from './digest.js';
import { lastValue } from './digest.js';
import { bootstrapDiff, bootstrapMean, bootstrapSpearman, mean, type Interval } from './stats.js';

export const MIN_RUNS = 3;
export const THRESHOLD = 0.5;

export type Group = 'target' | 'C1' | 'C2' | 'other';
export type Verdict = 'supported' | 'not supported' | 'inconclusive';

export function groupOf(acts: readonly string[]): Group {
  if (acts.length < 2) return 'other';
  const [a, b] = acts.slice(-2);
  if (a === 'sigmoid' && b === 'relu') return 'target';
  if (b === 'relu') return 'C1';
  if (a === 'sigmoid') return 'C2';
  return 'other';
}

export interface Claim {
  readonly id: 'A' | 'B' | 'C';
  readonly text: string;
  readonly statistic: string;
  readonly interval: Interval | null;
  readonly n: string;
  /** true: CI on the predicted side; false: entirely on the other side; null: straddles or not computable */
  readonly holds: boolean | null;
  readonly rule: string;
}

export interface RunMeasure {
  readonly run: string;
  readonly combo: string;
  readonly seed: number;
  readonly group: Group;
  readonly measure: number;
  readonly acc: number;
}

export interface HypothesisResult {
  readonly id: 'H1' | 'H2';
  /** the dataset and batch-norm setting of the runs tested */
  readonly variant: string;
  readonly title: string;
  readonly measure: string;
  readonly predicts: string;
  readonly control: 'C1' | 'C2';
  readonly claims: readonly Claim[];
  readonly verdict: Verdict;
  readonly reason: string;
  readonly runs: readonly RunMeasure[];
}

interface Spec {
  readonly id: 'H1' | 'H2';
  readonly title: string;
  readonly measure: string;
  readonly predicts: string;
  readonly control: 'C1' | 'C2';
  readonly value: (d: RunDigest) => number | null;
}

const SPECS: readonly Spec[] = [
  {
    id: 'H1',
    title: 'the output ReLU is dead: sigmoid(h)·W + b < 0 for most inputs',
    measure: 'dead_rows of the output layer: share of inputs whose logits are all ≤ 0, mean over the last finished epoch',
    predicts: 'high (> 0.5) for (sigmoid, relu) runs, higher than with the sigmoid replaced, and lower accuracy where it is higher',
    control: 'C1',
    value: (d) => lastValue(d, d.acts.length, 'dead_rows'),
  },
  {
    id: 'H2',
    title: 'the sigmoid saturates, so gradients vanish',
    measure: 'sat_frac of the sigmoid layer before the output: share of its outputs at the extremes, mean over the last finished epoch',
    predicts: 'high (> 0.5) for (sigmoid, relu) runs, higher than with the output ReLU replaced, and lower accuracy where it is higher',
    control: 'C2',
    value: (d) => lastValue(d, d.acts.length - 1, 'sat_frac'),
  },
];

const side = (i: Interval | null, above: number): boolean | null =>
  !i || !Number.isFinite(i.lo) ? null : i.lo > above ? true : i.hi < above ? false : null;
const fmt = (i: Interval) => `${i.estimate.toFixed(3)} [${i.lo.toFixed(3)}, ${i.hi.toFixed(3)}]`;

export function testHypothesis(spec: Spec, digests: readonly RunDigest[], variant = digests[0]?.variant ?? 'mnist'): HypothesisResult {
  const runs: RunMeasure[] = [];
  for (const d of digests) {
    const group = groupOf(d.acts);
    const m = spec.value(d);
    if ((group === 'target' || group === spec.control) && m !== null && d.finalTestAcc !== null) {
      runs.push({ run: d.run, combo: d.combo, seed: d.seed, group, measure: m, acc: d.finalTestAcc });
    }
  }
  const t = runs.filter((r) => r.group === 'target').map((r) => r.measure);
  const c = runs.filter((r) => r.group === spec.control).map((r) => r.measure);
  const enoughT = t.length >= MIN_RUNS, enoughC = c.length >= MIN_RUNS;
  const a = enoughT ? bootstrapMean(t) : null;
  const b = enoughT && enoughC ? bootstrapDiff(t, c) : null;
  const cc = enoughT && enoughC ? bootstrapSpearman(runs.map((r) => r.measure), runs.map((r) => r.acc)) : null;
  const cHolds = cc && Number.isFinite(cc.lo) ? (cc.hi < 0 ? true : cc.lo > 0 ? false : null) : null;
  const claims: Claim[] = [
    { id: 'A', text: 'high in the target group', statistic: a ? `mean ${fmt(a)}` : `mean ${t.length ? mean(t).toFixed(3) : '—'} (no CI)`, interval: a, n: `${t.length} target runs`, holds: side(a, THRESHOLD), rule: `CI above ${THRESHOLD}` },
    { id: 'B', text: `higher than in ${spec.control}`, statistic: b ? `difference ${fmt(b)}` : '—', interval: b, n: `${t.length} vs ${c.length} runs`, holds: side(b, 0), rule: 'CI above 0' },
    { id: 'C', text: 'goes with lower accuracy', statistic: cc ? `Spearman ρ ${fmt(cc)}` : '—', interval: cc, n: `${runs.length} runs`, holds: cHolds, rule: 'CI below 0' },
  ];
  let verdict: Verdict, reason: string;
  if (!enoughT || !enoughC) {
    verdict = 'inconclusive';
    reason = `needs at least ${MIN_RUNS} runs in the target group and in ${spec.control}; have ${t.length} and ${c.length}`;
  } else if (claims.some((x) => x.holds === false)) {
    verdict = 'not supported';
    reason = `claim ${claims.filter((x) => x.holds === false).map((x) => x.id).join(', ')} has its CI entirely on the wrong side`;
  } else if (claims.every((x) => x.holds === true)) {
    verdict = 'supported';
    reason = 'every claim has its CI on the predicted side';
  } else {
    verdict = 'inconclusive';
    reason = `claim ${claims.filter((x) => x.holds === null).map((x) => x.id).join(', ')} has a CI that includes its threshold`;
  }
  return { id: spec.id, variant, title: spec.title, measure: spec.measure, predicts: spec.predicts, control: spec.control, claims, verdict, reason, runs };
}

/** Each hypothesis, tested separately on the runs of each variant (dataset, batch norm). */
export function testHypotheses(digests: readonly RunDigest[]): HypothesisResult[] {
  const variants = [...new Set(digests.map((d) => d.variant))].sort();
  if (variants.length === 0) variants.push('mnist');
  return variants.flatMap((v) => SPECS.map((s) => testHypothesis(s, digests.filter((d) => d.variant === v), v)));
}
