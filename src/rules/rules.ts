/**
 * Rules that watch a run while it trains, modelled on SageMaker Debugger's built-in rules
 * (DeadRelu, VanishingGradient, SaturatedActivation, ExplodingTensor, WeightUpdateRatio, each with
 * a stop-training action). Each reads figures the probes already record every probed step, has a
 * threshold and a patience — the condition must hold at every probed step for that many steps —
 * and an action: `warn` (said, and listed in the trace) or `stop` (the run ends as `stopped`).
 *
 * The definitions, thresholds and patiences below were fixed before they were measured on the
 * study (README, "Rules"); they are not fitted to it. Cheap to import: no tfjs.
 */
import { ProbeError, ErrorCode } from '../errors.js';
import { msg } from '../messages.js';
import { didYouMean } from '../options.js';
import { Metric } from '../trace/metrics.js';

export const RuleName = {
  nonFinite: 'non-finite',
  explodingGradients: 'exploding-gradients',
  vanishingGradients: 'vanishing-gradients',
  saturation: 'saturation',
  deadLayer: 'dead-layer',
  deadOutput: 'dead-output',
} as const;
export type RuleName = (typeof RuleName)[keyof typeof RuleName];
export const RULE_NAMES: readonly RuleName[] = Object.values(RuleName);
export const isRuleName = (s: string): s is RuleName => (RULE_NAMES as readonly string[]).includes(s);

export const RuleAction = { warn: 'warn', stop: 'stop' } as const;
export type RuleAction = (typeof RuleAction)[keyof typeof RuleAction];

/** Which layers a rule reads: the hidden ones, the output one, or any. */
type Scope = 'hidden' | 'output' | 'any';

export interface RuleSpec {
  readonly name: RuleName;
  /**
   * the figures read, per layer: per-step metrics of the probes; the condition holds at a probed
   * step when it holds for any of them (`*`: every per-step figure, and the loss)
   */
  readonly metrics: readonly string[];
  /**
   * the figures read on the output layer instead, where they differ; a trace without them (written
   * before they existed, or by a writer that has none) leaves the output layer unwatched by this
   * rule, never read through {@link metrics} in their place
   */
  readonly outputMetrics?: readonly string[];
  readonly scope: Scope;
  /** `above`: value > threshold; `atLeast`: value ≥ threshold; `belowNonZero`: 0 < value < threshold; `nonFinite`: ±∞ (NaN too for the loss) */
  readonly test: 'above' | 'atLeast' | 'belowNonZero' | 'nonFinite';
  readonly threshold: number;
  /** steps the condition must hold at every probed step before the rule fires (0: at once) */
  readonly patience: number;
  /** what it means, for --help and README */
  readonly describe: string;
  /** why these defaults */
  readonly why: string;
}

const PATIENCE = 200;

/** The built-in rules and their defaults. */
export const RULES: Readonly<Record<RuleName, RuleSpec>> = {
  [RuleName.nonFinite]: {
    name: RuleName.nonFinite, metrics: ['*'], scope: 'any', test: 'nonFinite', threshold: NaN, patience: 0,
    describe: 'the loss is NaN or ±∞, or any probed figure is ±∞',
    why: 'SageMaker ExplodingTensor: a value that is not a finite number does not come back. (A probed figure may be NaN when it measured nothing, so NaN counts only in the loss; a non-finite loss or weights also end the run as diverged, rules or not.)',
  },
  [RuleName.explodingGradients]: {
    name: RuleName.explodingGradients, metrics: [Metric.updateRatio], scope: 'any', test: 'above', threshold: 10, patience: 0,
    describe: 'a layer\'s step ‖ΔW‖/‖W‖ is above the threshold: the update dwarfs the weights it changes',
    why: 'SageMaker WeightUpdateRatio\'s large_threshold (10); scale-free, unlike a gradient norm. Healthy training takes steps of about 1e-3 of the weights.',
  },
  [RuleName.vanishingGradients]: {
    name: RuleName.vanishingGradients, metrics: [Metric.wGradMax], scope: 'any', test: 'belowNonZero', threshold: 1e-7, patience: PATIENCE,
    describe: 'every |dL/dW| of a layer is below the threshold but not all exactly 0 (exact zeros come from dead units: dead-layer, dead-output)',
    why: 'SageMaker VanishingGradient\'s threshold (1e-7), asked of the largest |dL/dW| rather than the mean: it fires later, never on one large gradient among tiny ones.',
  },
  [RuleName.saturation]: {
    name: RuleName.saturation, metrics: [Metric.satFrac], outputMetrics: [Metric.satWrongFrac], scope: 'any', test: 'atLeast', threshold: 0.5, patience: PATIENCE,
    describe: 'at least this share of a bounded hidden layer\'s (unit, sample) outputs sit at its extremes (--sigmoid-low/--sigmoid-high, --tanh-sat, --selu-sat); on the output layer, at least this share sit at an extreme the loss pushes them away from (sat_wrong_frac)',
    why: 'SageMaker SaturatedActivation\'s threshold_layer (50%), on the share of outputs rather than of units saturated for 99% of inputs (which implies ≥ 49.5% of outputs). On the output layer the loss decides which extreme is right: a trained sigmoid output has the label\'s unit near 1 and the others near 0, saturated where the loss wants it, so only the wrong side (dL/da pointing back out of the extreme, whose vanished derivative keeps the unit there) counts; a trace without sat_wrong_frac leaves the output layer unwatched.',
  },
  [RuleName.deadLayer]: {
    name: RuleName.deadLayer, metrics: [Metric.deadUnits], scope: 'hidden', test: 'atLeast', threshold: 0.5, patience: PATIENCE,
    describe: 'at least this share of a hidden layer\'s units is inactive (zero derivative) for every sample of the batch',
    why: 'SageMaker DeadRelu\'s threshold_layer (50%); a unit counts as dead on a batch rather than below 1% activity, and the patience asks it of every probed batch in a row.',
  },
  [RuleName.deadOutput]: {
    name: RuleName.deadOutput, metrics: [Metric.deadUnits, Metric.deadRows], scope: 'output', test: 'atLeast', threshold: 0.5, patience: PATIENCE,
    describe: 'at least this share of the output layer\'s units is inactive for every sample of the batch, or of the batch\'s samples has every output unit inactive (no gradient reaches the network through them): H1\'s mechanism',
    why: 'DeadRelu\'s 50%, of units as for a hidden layer, and of samples: an output that is off for a sample passes it no gradient at all. (First defined on samples alone; a fixture run died with 9 of 10 output units off for every input and one on for all, 0 samples dead: units were added before the study was measured.)',
  },
};

/**
 * The per-step metrics `spec` reads on a layer (its scope, and on the output layer its
 * `outputMetrics` where it has them): the watcher and the report's charts ask the same question
 * here.
 */
export function ruleMetrics(spec: RuleSpec, isOutput: boolean): readonly string[] {
  if (spec.scope !== 'any' && (spec.scope === 'output') !== isOutput) return [];
  return isOutput && spec.outputMetrics ? spec.outputMetrics : spec.metrics;
}

/** How a rule compares, in a word: `>`, `≥`, `<` (and not 0), or none for the non-finite test. */
export const RULE_RELATION: Readonly<Record<RuleSpec['test'], string>> = { above: '>', atLeast: '≥', belowNonZero: '<', nonFinite: '' };

/** A rule as a run uses it: its defaults, or the values given. */
export interface RuleConfig {
  readonly rule: RuleName;
  readonly action: RuleAction;
  readonly threshold: number;
  readonly patience: number;
}

/**
 * `--stop-when` / `--warn-when` text: `all`, or `NAME[:THRESHOLD[:PATIENCE]]` comma-separated
 * (e.g. `dead-output:0.8:400,non-finite`); or the library's objects. A rule given twice keeps the
 * last; `stop` and `warn` of one rule: the one given last.
 */
export type RuleInput = string | RuleName | { readonly rule: string; readonly action?: RuleAction; readonly threshold?: number; readonly patience?: number };

export function parseRules(raw: string | readonly RuleInput[] | undefined, action: RuleAction, flag: string): RuleConfig[] {
  if (raw === undefined) return [];
  const items: RuleInput[] = typeof raw === 'string' ? raw.split(',').map((s) => s.trim()).filter(Boolean) : [...raw];
  const out: RuleConfig[] = [];
  for (const item of items) {
    if (typeof item === 'string') {
      const [name, threshold, patience, ...more] = item.split(':');
      if (name === 'all' && threshold === undefined) { out.push(...RULE_NAMES.map((r) => defaults(r, action))); continue; }
      if (more.length) throw new ProbeError(ErrorCode.config, msg.badRule(flag, item, RULE_NAMES));
      out.push(ruleConfig(flag, item, { rule: name, action, threshold: threshold === undefined ? undefined : Number(threshold), patience: patience === undefined ? undefined : Number(patience) }, threshold, patience));
    } else {
      out.push(ruleConfig(flag, item.rule, { ...item, action: item.action ?? action }, item.threshold, item.patience));
    }
  }
  return out;
}

function defaults(rule: RuleName, action: RuleAction): RuleConfig {
  return { rule, action, threshold: RULES[rule].threshold, patience: RULES[rule].patience };
}

function ruleConfig(flag: string, given: string, r: { rule: string; action: RuleAction; threshold?: number; patience?: number }, tText: unknown, pText: unknown): RuleConfig {
  if (!isRuleName(r.rule)) throw new ProbeError(ErrorCode.config, msg.unknownRule(flag, r.rule, didYouMean(r.rule, [...RULE_NAMES, 'all']), RULE_NAMES));
  if (r.action !== RuleAction.warn && r.action !== RuleAction.stop) throw new ProbeError(ErrorCode.config, msg.badChoice(`${flag} ${r.rule} action`, r.action, Object.values(RuleAction)));
  const spec = RULES[r.rule];
  const threshold = r.threshold ?? spec.threshold, patience = r.patience ?? spec.patience;
  if (r.threshold !== undefined && (spec.test === 'nonFinite' || !Number.isFinite(threshold))) {
    throw new ProbeError(ErrorCode.config, msg.badRuleValue(flag, given, 'threshold', tText, spec.test === 'nonFinite' ? `${r.rule} takes none` : 'a finite number'));
  }
  if (r.patience !== undefined && !(Number.isSafeInteger(patience) && patience >= 0)) {
    throw new ProbeError(ErrorCode.config, msg.badRuleValue(flag, given, 'patience', pText, 'a whole number of steps ≥ 0'));
  }
  return { rule: r.rule, action: r.action, threshold, patience };
}

/** Rules given in several lists as one: a rule named twice keeps the last, in the order of {@link RULE_NAMES}. */
export function normalizeRules(rules: readonly RuleConfig[]): RuleConfig[] {
  const by = new Map<RuleName, RuleConfig>();
  for (const r of rules) by.set(r.rule, r);
  return RULE_NAMES.flatMap((n) => (by.has(n) ? [by.get(n)!] : []));
}
