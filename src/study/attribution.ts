/**
 * Error attribution per group: over the runs of a group (the target group split into failing and
 * not failing runs), the mean share of each run's errors that each candidate cause covers at the
 * last evaluation, with a two-stage bootstrap 95% interval when there are MIN_RUNS runs. This is
 * what turns "H1 supported" into "in these runs its mechanism covers N% of the errors".
 */
import type { RunDigest } from '../read/digest.js';
import { diagValue } from '../read/digest.js';
import { failRule, failureOf, groupOf } from './hypotheses.js';
import { clusteredMean, mean, type Interval } from '../read/stats.js';
import { CAUSE_INFO, CAUSES, Diag, errorShare, MIN_RUNS, type Cause } from './study.js';

export interface GroupAttribution {
  readonly variant: string;
  readonly group: string;
  readonly runs: number;
  /** mean share of test inputs misclassified */
  readonly errors: number;
  /** per cause: mean over the runs it can apply to (`runs`); none → mean NaN, shown as n/a with `needs` */
  readonly causes: readonly { readonly cause: Cause; readonly hypothesis: string | null; readonly runs: number; readonly needs: string; readonly mean: number; readonly interval: Interval | null }[];
}

export function attributionByGroup(digests: readonly RunDigest[]): GroupAttribution[] {
  const out: GroupAttribution[] = [];
  for (const variant of [...new Set(digests.map((d) => d.variant))].sort()) {
    const ds = digests.filter((d) => d.variant === variant && d.finalTestAcc !== null && diagValue(d, 0, Diag.errors) !== null);
    const rule = failRule(ds);
    const failed = (d: RunDigest) => failureOf(d, rule) !== null;
    const groups: [string, RunDigest[]][] = [
      ['target, failing', ds.filter((d) => groupOf(d.acts) === 'target' && failed(d))],
      ['target, not failing', ds.filter((d) => groupOf(d.acts) === 'target' && !failed(d))],
      ['C1', ds.filter((d) => groupOf(d.acts) === 'C1')],
      ['C2', ds.filter((d) => groupOf(d.acts) === 'C2')],
    ];
    for (const [group, runs] of groups) {
      if (runs.length === 0) continue;
      out.push({
        variant, group, runs: runs.length, errors: mean(runs.map((d) => diagValue(d, 0, Diag.errors) as number)),
        causes: CAUSES.map((cause) => {
          // runs the cause cannot apply to are left out (traces written before n/a was NaN hold 0 there)
          const items = runs.filter((d) => CAUSE_INFO[cause].applies(d.acts))
            .map((d) => ({ cluster: d.combo, x: diagValue(d, 0, errorShare(cause)) })).filter((i): i is { cluster: string; x: number } => i.x !== null);
          return {
            cause, hypothesis: CAUSE_INFO[cause].hypothesis, runs: items.length, needs: CAUSE_INFO[cause].needs,
            mean: items.length ? mean(items.map((i) => i.x)) : NaN,
            interval: items.length >= MIN_RUNS ? clusteredMean(items) : null,
          };
        }),
      });
    }
  }
  return out;
}
