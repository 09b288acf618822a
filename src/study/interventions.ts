/**
 * Interventions as causal evidence: runs of the same combination, seed and dataset (so the same
 * initial weights and data order: init and shuffling depend on the seed alone), trained with and
 * without an intervention, are paired: batch normalization before the output activation
 * (`--bn last`, the study's fix) and before every activation (`--bn all`, the study's second
 * table), and three that act on the output layer alone (`--intervention`): no output activation,
 * a leaky output, the output's initial biases raised. Per intervention and group (of the
 * study's combination), the mean change (with − without) in accuracy, in each hypothesis' primary
 * measure and in the share of errors its cause covers, with a two-stage bootstrap 95% interval
 * (combinations, then seeds within them).
 *
 * Rules (fixed with the others before any paired run was looked at, see study.ts), in the target
 * group:
 * - a hypothesis gains causal support when the intervention lowers its measure (interval below 0)
 *   and raises accuracy (interval above 0); it loses it when accuracy rises while its measure does
 *   not fall (interval above 0);
 * - `out-linear` and `out-leaky` remove H1's mechanism itself (an output unit that can be off and
 *   pass no gradient): H1's measure does not exist with them. H1 gains support when such an
 *   intervention raises accuracy (interval above 0); otherwise it stays undecided.
 */
import type { RunDigest } from '../read/digest.js';
import { groupOf, measureOf, type Group } from './hypotheses.js';
import { clusteredMean, type Interval } from '../read/stats.js';
import { errorShare, HYPOTHESES, MIN_RUNS, type HypothesisId } from './study.js';

/** An intervention paired with the study's setting: which runs carry it, and what it does. */
export interface Intervention {
  readonly bn: string;
  readonly output: string;
  readonly name: string;
  readonly flag: string;
  readonly what: string;
  /** it removes H1's mechanism (the output can no longer be off): H1's measure does not exist with it */
  readonly removesH1: boolean;
}

/** The interventions paired with the study's setting, in the order the page lists them. */
export const INTERVENTIONS: readonly Intervention[] = [
  { bn: 'last', output: 'none', name: 'bn last', flag: '--bn last', what: 'batch norm before the output activation (the study\'s fix)', removesH1: false },
  { bn: 'all', output: 'none', name: 'bn all', flag: '--bn all', what: 'batch norm before every activation (the study\'s second table)', removesH1: false },
  { bn: 'none', output: 'out-linear', name: 'no output activation', flag: '--intervention out-linear', what: 'the logits go to log-softmax without the output activation', removesH1: true },
  { bn: 'none', output: 'out-leaky', name: 'leaky output', flag: '--intervention out-leaky', what: 'a leaky ReLU (slope 0.01) instead of the output activation', removesH1: true },
  { bn: 'none', output: 'out-bias', name: 'output bias +1', flag: '--intervention out-bias', what: 'the output layer\'s initial biases raised by 1: no output unit starts off', removesH1: false },
];
/** The runs every intervention is paired with: the study's setting. */
const isBaseline = (d: RunDigest) => d.bn === 'none' && d.intervention === 'none';
const carries = (iv: Intervention, d: RunDigest) => d.bn === iv.bn && d.intervention === iv.output;
/** The group of the study's combination a run trained (an intervention changes the output's activation, not the combination). */
const groupOfCombo = (d: RunDigest): Group => groupOf(d.combo.split('-'));

export interface PairedChange {
  readonly group: Group;
  /** `accuracy`, `H1 measure`, `H1 cause` … */
  readonly figure: string;
  readonly hypothesis: HypothesisId | null;
  readonly pairs: number;
  /** mean of (with − without) over the pairs; null with fewer than MIN_RUNS pairs */
  readonly change: Interval | null;
  readonly before: number;
  readonly after: number;
}

export interface CausalReading {
  readonly hypothesis: HypothesisId;
  readonly reading: 'supports' | 'against' | 'undecided';
  readonly why: string;
}

export interface Interventions {
  readonly intervention: Intervention;
  readonly dataset: string;
  readonly pairs: readonly { readonly combo: string; readonly seed: number; readonly group: Group; readonly without: string; readonly with: string }[];
  readonly changes: readonly PairedChange[];
  readonly readings: readonly CausalReading[];
}

const key = (d: RunDigest) => `${d.dataset}|${d.combo}|${d.seed}`;

export function pairInterventions(digests: readonly RunDigest[]): Interventions[] {
  return INTERVENTIONS.flatMap((iv) => pairIntervention(iv, digests));
}

function pairIntervention(intervention: Intervention, digests: readonly RunDigest[]): Interventions[] {
  const base = new Map(digests.filter((d) => isBaseline(d) && d.finalTestAcc !== null).map((d) => [key(d), d]));
  const pairs = digests.filter((d) => carries(intervention, d) && d.finalTestAcc !== null && base.has(key(d))).map((d) => ({ without: base.get(key(d)) as RunDigest, with: d }));
  const datasets = [...new Set(pairs.map((p) => p.with.dataset))].sort();
  return datasets.map((dataset) => {
    const ps = pairs.filter((p) => p.with.dataset === dataset);
    const changes: PairedChange[] = [];
    for (const group of ['target', 'C1', 'C2'] as const) {
      const g = ps.filter((p) => groupOfCombo(p.with) === group);
      if (g.length === 0) continue;
      const figure = (name: string, hypothesis: HypothesisId | null, f: (d: RunDigest) => number | null) => {
        const xs = g.map((p) => ({ p, a: f(p.without), b: f(p.with) })).filter((x): x is { p: typeof g[number]; a: number; b: number } => x.a !== null && x.b !== null);
        if (xs.length === 0) return;
        const items = xs.map((x) => ({ cluster: x.p.with.combo, x: x.b - x.a }));
        changes.push({
          group, figure: name, hypothesis, pairs: xs.length, change: xs.length >= MIN_RUNS ? clusteredMean(items) : null,
          before: xs.reduce((s, x) => s + x.a, 0) / xs.length, after: xs.reduce((s, x) => s + x.b, 0) / xs.length,
        });
      };
      figure('accuracy', null, (d) => d.finalTestAcc);
      for (const h of HYPOTHESES) {
        figure(`${h.id} measure`, h.id, (d) => measureOf(d, h));
        figure(`${h.id} cause (share of errors)`, h.id, (d) => diagCause(d, h.cause));
      }
    }
    const readings: CausalReading[] = HYPOTHESES.map((h) => {
      const acc = changes.find((c) => c.group === 'target' && c.figure === 'accuracy')?.change ?? null;
      const m = changes.find((c) => c.group === 'target' && c.figure === `${h.id} measure`)?.change ?? null;
      if (h.id === 'H1' && intervention.removesH1 && acc) {
        return acc.lo > 0
          ? { hypothesis: h.id, reading: 'supports', why: `${intervention.name} removed H1's mechanism (no output unit can be off) and raised accuracy (CI above 0)` }
          : { hypothesis: h.id, reading: 'undecided', why: `${intervention.name} removed H1's mechanism, and accuracy did not clearly rise (CI ${acc.hi < 0 ? 'below' : 'includes'} 0)` };
      }
      if (!acc || !m) return { hypothesis: h.id, reading: 'undecided', why: `needs ${MIN_RUNS} target-group pairs with the measure` };
      const accUp = acc.lo > 0, mDown = m.hi < 0, mNotDown = m.lo > 0;
      if (accUp && mDown) return { hypothesis: h.id, reading: 'supports', why: `${intervention.name} raised accuracy (CI above 0) and lowered the ${h.id} measure (CI below 0)` };
      if (accUp && mNotDown) return { hypothesis: h.id, reading: 'against', why: `${intervention.name} raised accuracy (CI above 0) while the ${h.id} measure rose (CI above 0)` };
      return { hypothesis: h.id, reading: 'undecided', why: `accuracy change ${acc.lo > 0 ? 'above 0' : 'not clearly above 0'}, ${h.id} measure change ${mDown ? 'below 0' : mNotDown ? 'above 0' : 'includes 0'}` };
    });
    return {
      intervention,
      dataset,
      pairs: ps.map((p) => ({ combo: p.with.combo, seed: p.with.seed, group: groupOfCombo(p.with), without: p.without.run, with: p.with.run })),
      changes, readings,
    };
  });
}

function diagCause(d: RunDigest, cause: string): number | null {
  const v = d.diag[`0/${errorShare(cause as Parameters<typeof errorShare>[0])}`];
  return v === undefined || !Number.isFinite(v) ? null : v;
}
