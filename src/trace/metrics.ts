/**
 * The names a trace's `probe` and `metric` columns hold, declared once: the probes that write
 * them, the readers (report, compare, export, watch, the CLI's tables) and any other writer of
 * the format (docs/trace-format.md) take them from here. Cheap to import: no tfjs.
 *
 * Probe ids are in probes/ids.ts; the evaluation and timing rows in trace/schema.ts; the
 * diagnosis rows' metric names (the study's test-set measures) in study/study.ts.
 */

/** Rows written at each evaluation (before training and after every epoch, on the test set). */
export const DIAGNOSIS_PROBE = 'diagnosis';
/** Rows written at the end of each window of steps: per-unit activity of every layer that can die. */
export const UNIT_ACTIVITY_PROBE = 'unit-activity';
/**
 * Per-unit activity is written once per this share of an epoch (a fixed number of steps, so traces
 * stay deterministic): 10 windows of 187 steps in the study, as fine as the report's per-unit strip
 * (100 points over 10 epochs). Traces before 2026-12 have 20; readers take the steps from the rows.
 */
export const UNIT_WINDOWS_PER_EPOCH = 10;

/** Per-step metrics of the built-in probes. */
export const Metric = {
  /** loss probe, layer 0: the batch's mean loss */
  loss: 'loss',
  /** loss probe, layer 0: the batch's accuracy */
  accuracy: 'accuracy',
  /** saturation: share of outputs where the activation saturates (low or high) */
  satFrac: 'sat_frac',
  satLow: 'sat_low',
  satHigh: 'sat_high',
  /** saturation: mean local derivative f′(z) over the batch's (unit, sample) entries */
  meanDeriv: 'mean_deriv',
  /**
   * saturation, output layer only: share of its (unit, sample) entries at an extreme of the band
   * while the loss's gradient dL/da points back out of it (at the low extreme dL/da < 0, at the high
   * one dL/da > 0): saturated on the wrong side, where the vanished derivative blocks learning.
   * Saturation on the side the loss pushes to (a trained sigmoid output: the label's unit near 1,
   * the others near 0) is the loss's goal, not a pathology.
   */
  satWrongFrac: 'sat_wrong_frac',
  /** dead-relu: share of (unit, sample) entries with a zero-derivative input (ReLU: z ≤ 0) */
  inactiveFrac: 'inactive_frac',
  /** dead-relu: share of units inactive for every sample of the batch */
  deadUnits: 'dead_units',
  /** dead-relu: share of samples for which every unit of the layer is inactive */
  deadRows: 'dead_rows',
  /** gradients: L2 norm and max |·| of dL/dW, dL/db, dL/dz */
  wGradNorm: 'w_grad_norm',
  wGradMax: 'w_grad_max',
  bGradNorm: 'b_grad_norm',
  bGradMax: 'b_grad_max',
  zGradNorm: 'z_grad_norm',
  zGradMax: 'z_grad_max',
  /** gradients: ‖ΔW‖ / ‖W‖, the relative size of the optimizer's step on the weights */
  updateRatio: 'update_ratio',
} as const;
export type Metric = (typeof Metric)[keyof typeof Metric];

/**
 * The per-step metrics whose values are shares (0 to 1) of a layer's entries, units or samples: a
 * chart of one starts its axis at 0, and draws the threshold of any rule that reads it.
 */
export const SHARE_METRICS: ReadonlySet<string> = new Set<string>([
  Metric.accuracy, Metric.satFrac, Metric.satLow, Metric.satHigh, Metric.satWrongFrac, Metric.inactiveFrac, Metric.deadUnits, Metric.deadRows,
]);

/**
 * Rows of the `diagnosis` probe per layer (1..L) at every labelled evaluation: the share of the
 * misclassified test inputs to which the per-input form of a layer's finding applies (the generic
 * diagnosis's "share of errors", read/diagnose-rules.ts): most of the layer's units off (z at or
 * below the activation's death point) or at their extremes for that input, or the input's own
 * gradient ‖∂L_x/∂z‖ at the layer exactly 0, or below GRAD_VANISHED of its mean before training.
 * A form that cannot apply to the layer's activation is not written; with no errors they are NaN.
 */
export const LayerErrorShare = {
  mostOff: 'layer_err_most_off',
  mostSat: 'layer_err_most_sat',
  gradZero: 'layer_err_grad_zero',
  gradVanished: 'layer_err_grad_vanished',
} as const;
export type LayerErrorShare = (typeof LayerErrorShare)[keyof typeof LayerErrorShare];

/** dead-relu, layers of at most `perUnitMax` units: share of the batch for which unit k is active. */
export const ACTIVE_UNIT_PREFIX = 'active_u';
export const activeUnitMetric = (k: number): string => `${ACTIVE_UNIT_PREFIX}${k}`;
/** The unit of an `active_u{k}` metric, or −1. */
export const activeUnitOf = (metric: string): number => (metric.startsWith(ACTIVE_UNIT_PREFIX) ? Number(metric.slice(ACTIVE_UNIT_PREFIX.length)) : -1);

/** unit-activity: share of the window's probed training inputs for which unit k was active. */
export const unitMetric = (k: number): string => `u${k}`;
/** The unit of a `u{k}` metric. */
export const unitOf = (metric: string): number => Number(metric.slice(1));

/** Quantile levels of the distribution probe, in percent: the bands TensorBoard's distributions draw, plus the median. */
export const QUANTILES = [1, 5, 25, 50, 75, 95, 99] as const;

/** Metric name of quantile `p` (percent) of `of` (z or a): `z_p50`, `a_p99`. */
export const quantileMetric = (of: 'z' | 'a', p: number): string => `${of}_p${p}`;
