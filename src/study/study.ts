/**
 * The study's measures and rules, declared once and fixed before any real slice was looked at.
 * The report, the diagnosis line, the trace writer and the tests import them from here; changing a
 * number here changes what a verdict means, so each says why it is what it is.
 */
import { canDie, canSaturate, specOf } from '../activations/index.js';


/**
 * Metric names of the `diagnosis` rows. Per layer (1..L) unless marked "layer 0".
 * Every share is over the test set at that evaluation.
 */
export const Diag = {
  /** ReLU layers: share of (input, unit) pairs with z ≤ 0 — on the output layer, H1's primary measure */
  inactivePairs: 'test_inactive_pairs',
  /** ReLU layers: share of inputs for which every unit has z ≤ 0 (stricter reading of H1) */
  deadInputs: 'test_dead_inputs',
  /** ReLU layers: share of inputs for which more than half of the units have z ≤ 0 (per-input reading of H1) */
  majorityInactive: 'test_majority_inactive',
  /** output ReLU layer: share of inputs whose true class's unit has z ≤ 0 */
  trueInactive: 'test_true_inactive',
  /** sigmoid/tanh/selu layers: share of (input, unit) pairs at the extremes, run's thresholds — H2's primary measure on the layer before the output */
  satPairs: 'test_sat_pairs',
  /** the same with stricter thresholds (sigmoid 0.001/0.999, tanh 0.999, selu 0.999) */
  satPairsStrict: 'test_sat_pairs_strict',
  /** the same with looser thresholds (sigmoid 0.05/0.95, tanh 0.95, selu 0.95) */
  satPairsLoose: 'test_sat_pairs_loose',
  /** sigmoid/tanh/selu layers: share of inputs for which more than half of the units are at the extremes */
  satInputs: 'test_sat_inputs',
  /** sigmoid/tanh/selu layers: mean local derivative over (input, unit) pairs */
  meanDeriv: 'test_mean_deriv',
  /** every layer: mean over inputs of ‖∂L_x/∂z‖ (per-input loss), relative to the same before training */
  gradRatio: 'test_grad_ratio',
  /** every layer: mean over inputs of ‖∂L_x/∂z‖ */
  gradNorm: 'test_grad_norm',
  /** layer 0: share of test inputs misclassified */
  errors: 'test_error',
} as const;

/**
 * Candidate causes of an error, checked per misclassified test input at every evaluation.
 * Each names the hypothesis whose mechanism it is.
 */
export const Cause = {
  /** H1: the output unit of the true class is a ReLU with z ≤ 0: it outputs 0 and passes no gradient that could raise it */
  trueUnitOff: 'true_unit_off',
  /** H2: more than half of the units of the layer before the output are at their extremes for this input */
  prevSaturated: 'prev_saturated',
  /** the gradient of this input's loss reaching the layer before the output is below {@link GRAD_VANISHED} of its mean size before training */
  gradVanished: 'grad_vanished',
} as const;
export type Cause = (typeof Cause)[keyof typeof Cause];
export const CAUSES: readonly Cause[] = Object.values(Cause);

/** layer-0 metric: share of all test inputs to which a cause applies */
export const inputShare = (c: Cause) => `in_${c}`;
/** layer-0 metric: share of the misclassified test inputs to which a cause applies */
export const errorShare = (c: Cause) => `err_${c}`;
/**
 * layer-0 metric: share of the errors to which exactly this set of causes applies (the cells of
 * the causes' Venn diagram; `none` = no candidate cause). The cells add up to 1.
 */
export const errorCell = (set: readonly Cause[]) => `errset_${set.length ? set.join('+') : 'none'}`;
/** Every subset of {@link CAUSES}, in a fixed order (bit k = cause k). */
export const CAUSE_SETS: readonly (readonly Cause[])[] = Array.from({ length: 1 << CAUSES.length }, (_, m) => CAUSES.filter((_, k) => m & (1 << k)));


/** "Most": the study's H1 says "for most inputs"; H2 "saturates" — both read as more than half. */
export const MOST = 0.5;
/** A gradient below this fraction of its size before training counts as vanished (an order of magnitude). */
export const GRAD_VANISHED = 0.1;
/** Saturation thresholds of the stricter and looser variants (the primary uses the run's own). */
export const SAT_STRICT = { sigmoidLow: 0.001, sigmoidHigh: 0.999, tanhSat: 0.999, seluSat: 0.999 } as const;
export const SAT_LOOSE = { sigmoidLow: 0.05, sigmoidHigh: 0.95, tanhSat: 0.95, seluSat: 0.95 } as const;

/**
 * A run fails when its final test accuracy is more than this below the median final accuracy of the
 * control runs (C1 ∪ C2) of the same variant: ten percentage points is far outside seed-to-seed
 * spread of the controls in the study (≤ 1 point) and well inside the target group's (≈ 25 points).
 */
export const FAIL_MARGIN = 0.1;
/** Fewest runs in a group (and fewest failing target runs for claims about failures) for an interval. */
export const MIN_RUNS = 3;
/** A cause explains a run's failure when it covers more than this share of its errors. */
export const COVERS = 0.5;
/** The diagnosis line calls a ReLU layer pathological when at least this share of its units died. */
export const DEAD_LAYER = 0.5;

/**
 * The study's groups, by the activations of the last two layers (hidden layer L−1, output layer L),
 * listed explicitly: an activation probe learns later (for attached models, or the engine) joins
 * no group until it is listed here, rather than silently becoming a control.
 */
export const GROUPS = {
  /** the combination that trains badly */
  target: { hidden: ['sigmoid'], output: ['relu'] },
  /** the sigmoid changed, the output ReLU kept */
  C1: { hidden: ['tanh', 'relu', 'selu'], output: ['relu'] },
  /** the output ReLU changed, the sigmoid kept */
  C2: { hidden: ['sigmoid'], output: ['tanh', 'sigmoid', 'selu'] },
} as const satisfies Record<string, { readonly hidden: readonly string[]; readonly output: readonly string[] }>;

/** The hypotheses, their primary measures and the cause that is their mechanism. */
export const HYPOTHESES = [
  {
    id: 'H1',
    title: 'the output ReLU is dead: sigmoid(h2)·W3 + b3 < 0 for most inputs',
    /** layer offset from the output: 0 = output layer */
    layerFromOut: 0,
    primary: Diag.inactivePairs,
    measure: 'share of (test input, output unit) pairs with z ≤ 0 at the output ReLU, at the last evaluation',
    variants: [
      { metric: Diag.deadInputs, label: 'stricter: share of inputs with all output units z ≤ 0' },
      { metric: Diag.majorityInactive, label: 'per input: share of inputs with most output units z ≤ 0' },
      { metric: Diag.trueInactive, label: 'true class: share of inputs whose true-class unit has z ≤ 0' },
    ],
    cause: Cause.trueUnitOff,
    control: 'C1',
  },
  {
    id: 'H2',
    title: 'the sigmoid before the output saturates, so gradients vanish',
    layerFromOut: 1,
    primary: Diag.satPairs,
    measure: "share of (test input, unit) pairs of the layer before the output at the sigmoid's extremes (the run's thresholds, default a < 0.01 or a > 0.99, where σ' < 0.0099), at the last evaluation",
    variants: [
      { metric: Diag.satPairsStrict, label: 'stricter: a < 0.001 or a > 0.999' },
      { metric: Diag.satPairsLoose, label: 'looser: a < 0.05 or a > 0.95' },
      { metric: Diag.satInputs, label: 'per input: share of inputs with most units at the extremes' },
    ],
    cause: Cause.prevSaturated,
    control: 'C2',
  },
] as const;
export type HypothesisId = (typeof HYPOTHESES)[number]['id'];

/** Whether an activation can die / saturate, as its spec (src/activations) says. */
const dies = (act: string | undefined) => { const s = act === undefined ? null : specOf(act); return s !== null && canDie(s); };
const saturates = (act: string | undefined) => { const s = act === undefined ? null : specOf(act); return s !== null && canSaturate(s); };

/**
 * Which layer each cause is about, counted from the output (0 = output layer), its hypothesis, and
 * the networks it can apply to: a cause that cannot apply is "n/a" (NaN in the trace), never 0 —
 * a tanh output has no off unit, and a zero there would read as evidence against H1.
 */
export const CAUSE_INFO: Readonly<Record<Cause, {
  readonly layerFromOut: number; readonly hypothesis: HypothesisId | null; readonly says: string;
  /** whether the cause can apply to a network with these activations (input → output) */
  readonly applies: (acts: readonly string[]) => boolean;
  /** what the network needs for it to apply, for "n/a" notes */
  readonly needs: string;
}>> = {
  [Cause.trueUnitOff]: { layerFromOut: 0, hypothesis: 'H1', says: "the true class's output unit is off (z ≤ 0)", applies: (a) => dies(a[a.length - 1]), needs: 'a ReLU output layer' },
  [Cause.prevSaturated]: { layerFromOut: 1, hypothesis: 'H2', says: 'most units are at their extremes', applies: (a) => a.length >= 2 && saturates(a[a.length - 2]), needs: 'a sigmoid, tanh or selu layer before the output' },
  [Cause.gradVanished]: { layerFromOut: 1, hypothesis: null, says: `the gradient reaching it is below ${GRAD_VANISHED} of its size before training`, applies: (a) => a.length >= 2, needs: 'a layer before the output' },
};
