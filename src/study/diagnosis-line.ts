/**
 * One line of diagnosis per run: which layer, which mechanism, the share of errors it covers and
 * since when — or "no pathology found" with the thresholds used. The same rule serves `probe run`,
 * `inspect`, `compare` and the report (rules in study.ts):
 *
 * - mechanism: of the candidate causes, the one covering the largest share of the misclassified
 *   test inputs at the last evaluation, if that share is above COVERS;
 * - since: the first evaluation from which that share stayed above COVERS (0 = before training);
 * - dead units: per ReLU layer, units inactive for every probed input from some step to the end;
 *   a layer with at least DEAD_LAYER of its units dead is a pathology on its own.
 */
import type { Trace } from '../trace/reader.js';
import type { RunDigest } from '../read/digest.js';
import { diagValue, digestTrace, NO_CHARTS } from '../read/digest.js';
import { Cause, CAUSE_INFO, CAUSES, COVERS, DEAD_LAYER, Diag, errorShare, GRAD_VANISHED, type HypothesisId } from './study.js';

export interface Diagnosis {
  readonly run: string;
  /** share of test inputs misclassified at the last evaluation; null without a diagnosis */
  readonly errors: number | null;
  readonly mechanism: {
    readonly cause: Cause;
    readonly hypothesis: HypothesisId | null;
    readonly layer: number;
    readonly activation: string;
    /** share of the errors it covers */
    readonly errorShare: number;
    /** first evaluation from which it covered more than COVERS of the errors: step and epoch (0 = before training) */
    readonly sinceStep: number;
    readonly sinceEpoch: number;
  } | null;
  /** share of the errors each cause covers at the last evaluation */
  readonly causes: Readonly<Record<string, number | null>>;
  readonly deadUnits: readonly { readonly layer: number; readonly dead: number; readonly units: number; readonly firstStep: number | null }[];
  readonly pathology: boolean;
  readonly thresholds: { readonly covers: number; readonly deadLayer: number; readonly gradVanished: number };
  readonly text: string;
}

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;

export function diagnose(d: RunDigest): Diagnosis {
  const L = d.acts.length;
  const thresholds = { covers: COVERS, deadLayer: DEAD_LAYER, gradVanished: GRAD_VANISHED };
  const errors = diagValue(d, 0, Diag.errors);
  // a cause that cannot apply to this network is null (n/a), even where an older trace wrote 0
  const causes = Object.fromEntries(CAUSES.map((c) => [c, CAUSE_INFO[c].applies(d.acts) ? diagValue(d, 0, errorShare(c)) : null]));
  const deadUnits = [...new Set(d.deaths.map((u) => u.layer))].sort((a, b) => a - b).map((layer) => {
    const us = d.deaths.filter((u) => u.layer === layer), dead = us.filter((u) => u.step !== null);
    return { layer, dead: dead.length, units: us.length, firstStep: dead.length ? Math.min(...dead.map((u) => u.step as number)) : null };
  }).filter((x) => x.dead > 0);
  const deadText = deadUnits.map((x) => `${x.dead}/${x.units} units of layer ${x.layer} dead since step ${x.firstStep}`).join('; ');
  const badLayers = deadUnits.filter((x) => x.dead >= DEAD_LAYER * x.units);
  if (errors === null) {
    // "older" only when it is: one of probe's own runs that evaluated without writing the diagnosis
    const why = !d.study ? 'the study\'s diagnosis is about its own MLP, and this is another model (no labelled evaluation in the trace)'
      : d.evals.length > 0 ? 'the trace has no evaluation diagnosis (written by an older probe)' : 'the run stopped before its first evaluation';
    const text = `${d.run}: no diagnosis — ${why}${deadText ? `; ${deadText}` : ''}`;
    return { run: d.run, errors, mechanism: null, causes, deadUnits, pathology: badLayers.length > 0, thresholds, text };
  }
  let best: Cause | null = null;
  for (const c of CAUSES) { const v = causes[c]; if (v !== null && v > COVERS && (best === null || v > (causes[best] as number))) best = c; }
  let mechanism: Diagnosis['mechanism'] = null;
  if (best) {
    // the first evaluation from which the cause covered most errors without a break
    let since = d.diagEpochs.at(-1) as RunDigest['diagEpochs'][number];
    for (let i = d.diagEpochs.length - 1; i >= 0; i--) {
      const v = d.diagEpochs[i].values[`0/${errorShare(best)}`];
      if (!(v > COVERS)) break;
      since = d.diagEpochs[i];
    }
    const info = CAUSE_INFO[best];
    const layer = L - info.layerFromOut;
    mechanism = { cause: best, hypothesis: info.hypothesis, layer, activation: d.acts[layer - 1], errorShare: causes[best] as number, sinceStep: since.step, sinceEpoch: since.epoch };
  }
  const head = `${d.run}: ${pct(errors)} of test inputs misclassified`;
  let text: string;
  if (mechanism) {
    const info = CAUSE_INFO[mechanism.cause];
    const when = mechanism.sinceEpoch === 0 ? 'since before training (step 0)' : `since epoch ${mechanism.sinceEpoch} (step ${mechanism.sinceStep})`;
    text = `${head}; layer ${mechanism.layer} (${mechanism.activation}${mechanism.layer === L ? ', output' : ''}): ${info.says} for ${pct(mechanism.errorShare)} of the errors${info.hypothesis ? ` (${info.hypothesis}'s mechanism)` : ''}, ${when}${deadText ? `; ${deadText}` : ''}`;
  } else if (badLayers.length) {
    text = `${head}; ${deadText} (no cause covers more than ${pct(COVERS)} of the errors)`;
  } else {
    const shares = CAUSES.map((c) => `${c} ${!CAUSE_INFO[c].applies(d.acts) ? 'n/a' : causes[c] === null ? '—' : pct(causes[c] as number)}`).join(', ');
    text = `${head}; no pathology found (no cause covers more than ${pct(COVERS)} of the errors: ${shares}; no ReLU layer with ≥ ${pct(DEAD_LAYER)} of its units dead${deadText ? `; ${deadText}` : ''})`;
  }
  return { run: d.run, errors, mechanism, causes, deadUnits, pathology: mechanism !== null || badLayers.length > 0, thresholds, text };
}

/** The diagnosis of one trace (read it with `readTrace`). */
export function diagnoseTrace(t: Trace): Diagnosis {
  return diagnose(digestTrace(t, NO_CHARTS));
}

export { Cause };
