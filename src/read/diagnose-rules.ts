/**
 * The rules of the generic diagnosis (read/diagnose.ts): what "dead", "saturated", "exactly zero",
 * "vanishing", "exploding", "non-finite" and "near chance" mean for any traced network. Fixed and
 * written down (README, "What is wrong") before they were run on any real trace; where the study
 * already fixed a threshold, it is the study's (study/study.ts), so the two never disagree.
 * Changing a number here changes what a diagnosis says: each says why it is what it is.
 */
import { DEAD_LAYER, FAIL_MARGIN, GRAD_VANISHED, MOST } from '../study/study.js';
import { Metric } from '../trace/metrics.js';

/** The end of a run: its last tenth of steps; figures "at the end" are means over the probed steps there. */
export const END_SHARE = 0.1;
/**
 * A run's steps are cut into this many equal spans (2% each): a finding holds *since* the first
 * step of the earliest span from which it held in every span with a probed value until the end
 * (the end judged as a whole). Finer spans would hold one noisy probed step each on short runs.
 */
export const SPANS = 50;
/** A layer with at least this share of its units dead is a finding (the study's DEAD_LAYER). */
export const DEAD_SHARE = DEAD_LAYER;
/** "Most": a layer is saturated when more than this share of its outputs are at the extremes at the end (the study's MOST). */
export const SATURATED = MOST;
/**
 * The per-step shares the diagnosis holds against a threshold, as data: a finding when the share's
 * mean at the end is above it. diagnose.ts reads its thresholds here, and the report draws each on
 * its share's chart, so a line on the page is the number the verdict used. (Dead units are counted
 * from the per-unit activity windows, not from a per-step share: they have no line.)
 */
export interface ShareFinding {
  readonly finding: 'saturated';
  readonly metric: string;
  /** the layers it reads: the hidden ones, or the output one */
  readonly scope: 'hidden' | 'output';
  readonly threshold: number;
}
export const SHARE_FINDINGS: readonly ShareFinding[] = [
  { finding: 'saturated', metric: Metric.satFrac, scope: 'hidden', threshold: SATURATED },
  { finding: 'saturated', metric: Metric.satWrongFrac, scope: 'output', threshold: SATURATED },
];
/** The threshold of the diagnosis's finding on a share, read from {@link SHARE_FINDINGS}. */
export const shareThreshold = (metric: string, scope: ShareFinding['scope']): number => {
  const f = SHARE_FINDINGS.find((x) => x.metric === metric && x.scope === scope);
  if (!f) throw new Error(`no finding reads ${metric} on ${scope} layers`);
  return f.threshold;
};
/** A zero-gradient finding: more than this share of the probed steps at the end had an exactly-zero weight gradient. */
export const ZERO_STEPS = MOST;
/** Vanishing: ‖dL/dz‖/loss at the end below this fraction of its value at the start (the study's GRAD_VANISHED: an order of magnitude). */
export const VANISHED = GRAD_VANISHED;
/** Exploding: ‖dL/dz‖ at the end above this multiple of its size at the start (the same order of magnitude, upwards). */
export const EXPLODED = 1 / GRAD_VANISHED;
/** Near chance: final accuracy at most 1/classes plus this (the study's FAIL_MARGIN, ten points). */
export const NEAR_CHANCE = FAIL_MARGIN;
/** The study's schedule: 10 epochs of the 60,000 MNIST training images. Runs shorter than it say so. */
export const STUDY_EPOCHS = 10;
export const STUDY_TRAIN = 60_000;
/** The per-input forms (share of errors) use the study's "most" for units off or saturated per input. */
export const MOST_UNITS = MOST;

const pct = (v: number) => `${+(100 * v).toFixed(1)}%`;

/** The rules in words, for the page and `--json` (one line each). */
export const RULE_TEXT = {
  end: `"at the end" = the mean over the probed steps of the run's last ${pct(END_SHARE)} of steps; "since step s" = the condition held in every 1/${SPANS} of the run from s to the end (the end judged as a whole); "start" = the first 1/${SPANS} with a probed value`,
  failing: `failing: final test accuracy at most 1/classes + ${100 * NEAR_CHANCE} points (classes = the output layer's units; without a test evaluation, the training batches' accuracy at the end); in a study report also more than ${100 * FAIL_MARGIN} points below the controls' median`,
  dead: `dead unit: inactive for every probed training input in every unit-activity window from some window to the end (at least a tenth of the windows, or 100); a layer with at least ${pct(DEAD_SHARE)} of its units dead is a finding`,
  saturated: `saturated: more than ${pct(SATURATED)} of a hidden layer's outputs at the extremes at the end (sat_frac, the run's thresholds); the output layer: more than ${pct(SATURATED)} of its outputs at an extreme the loss pushes them away from (sat_wrong_frac: the label's unit at the low extreme, another at the high one, for the softmax cross-entropy) — at the extreme the loss wants is where a trained classifier's outputs belong`,
  zero: `exactly zero gradient: every entry of dL/dW is 0 (w_grad_max = 0; without weights dL/dz); a finding when more than ${pct(ZERO_STEPS)} of the probed steps at the end have it`,
  vanishing: `vanishing: ‖dL/dz‖ / loss at the end below ${VANISHED} of its value at the start (a gradient that shrinks with the loss is not vanishing)`,
  exploding: `exploding: ‖dL/dz‖ at the end above ${EXPLODED}× its size at the start`,
  nonFinite: 'non-finite: a probed value or the loss that is NaN or ±∞ (an attached layer the step did not run through, all NaN, is not counted)',
  errors: `share of errors: at the last labelled evaluation, the misclassified test inputs for which most (> ${pct(MOST_UNITS)}) of the layer's units are off / at their extremes, or whose own gradient at the layer is exactly 0 / below ${GRAD_VANISHED} of its mean before training`,
  short: `short: fewer samples than the study's schedule (${STUDY_EPOCHS} epochs of ${STUDY_TRAIN.toLocaleString('en-US')})`,
} as const;
