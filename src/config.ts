/**
 * A run's settings: defaults are the study's, every value validated with a message that names it.
 * Library callers and the CLI both go through {@link resolveConfig}; raw strings are accepted so
 * that the CLI can report the value exactly as typed.
 */
import { createHash } from 'node:crypto';
import { comboName, parseCombo, type Activation, type TrainedActivation } from './activations/index.js';
import { ProbeError, ErrorCode } from './errors.js';
import { msg, opt } from './messages.js';
import { checkOptions, optionKeys } from './options.js';
import { normalizeRules, parseRules, RuleAction, type RuleConfig, type RuleInput } from './rules/rules.js';
import { DEFAULT_PROBE_SETTINGS, type ProbeSettings } from './probes/probe.js';
import { isProbeId, PROBE_IDS, type ProbeId } from './probes/ids.js';
import { isBackendChoice, BackendChoice, isEngineKind, EngineKind } from './train/choices.js';
import { isDatasetName, type DatasetName } from './train/data.js';

export interface RunConfig {
  readonly combo: string;
  readonly activations: readonly Activation[];
  readonly hidden: readonly number[];
  readonly lr: number;
  readonly momentum: number;
  readonly batch: number;
  readonly epochs: number;
  readonly seed: number;
  readonly trainLimit: number | null;
  readonly testLimit: number | null;
  readonly dataDir: string | null;
  readonly dataset: DatasetName;
  /** batch normalization before the activation: on no layer, the output layer, or every layer */
  readonly bn: BatchNormMode;
  /**
   * an intervention on the output layer ({@link Intervention}), absent for none: runs without one
   * keep the config hash they had before interventions existed
   */
  readonly intervention?: Exclude<Intervention, 'none'>;
  readonly backend: BackendChoice;
  readonly engine: EngineKind;
  /**
   * `all` (the default: every built-in probe of the version that runs it, so adding a probe to
   * probe does not change a default run's config hash), or the probes asked for, each once, in
   * the registry's order
   */
  readonly probes: 'all' | readonly ProbeId[];
  /** probes without a schedule of their own run on steps 0, every, 2·every, … ({@link DEFAULT_EVERY}) */
  readonly every: number;
  readonly thresholds: ProbeSettings;
  /** rules that read each probed step and warn or stop the run (src/rules/); empty: none */
  readonly rules: readonly RuleConfig[];
}

type Raw<T> = T | string;

/** What a caller may pass; anything left out takes the study's value. */
export interface RunInput {
  readonly combo: string;
  readonly hidden?: Raw<readonly number[]>;
  readonly lr?: Raw<number>;
  readonly momentum?: Raw<number>;
  readonly batch?: Raw<number>;
  readonly epochs?: Raw<number>;
  readonly seed?: Raw<number>;
  readonly trainLimit?: Raw<number> | null;
  readonly testLimit?: Raw<number> | null;
  readonly dataDir?: string | null;
  readonly dataset?: string;
  readonly bn?: string;
  readonly intervention?: string;
  readonly backend?: string;
  readonly engine?: string;
  readonly probes?: Raw<readonly string[]>;
  readonly every?: Raw<number>;
  /** the distribution probe's own schedule: every N steps */
  readonly distributionEvery?: Raw<number>;
  readonly sigmoidLow?: Raw<number>;
  readonly sigmoidHigh?: Raw<number>;
  readonly tanhSat?: Raw<number>;
  readonly seluSat?: Raw<number>;
  /**
   * rules (src/rules/rules.ts): `'all'`, names, `NAME:THRESHOLD:PATIENCE` text, or objects
   * `{ rule, action?, threshold?, patience? }`; the action is `stop` unless an object says `warn`
   */
  readonly rules?: 'all' | string | readonly RuleInput[];
  /** rules that stop the run (probe run --stop-when): as `rules` */
  readonly stopWhen?: string | readonly RuleInput[];
  /** rules that only warn (probe run --warn-when) */
  readonly warnWhen?: string | readonly RuleInput[];
}

export const BatchNormMode = { none: 'none', last: 'last', all: 'all' } as const;
export type BatchNormMode = (typeof BatchNormMode)[keyof typeof BatchNormMode];

/**
 * Interventions on the output layer, each acting on H1's mechanism (an output ReLU whose z ≤ 0
 * passes no gradient) and on nothing H2 names (the saturation of the layer before it):
 * - `out-linear`: no output activation (the logits go to log-softmax as they are);
 * - `out-leaky`: PyTorch's leaky ReLU (slope 0.01 below 0) instead of the output activation;
 * - `out-bias`: the output layer's initial biases raised by {@link OUT_BIAS_SHIFT}.
 * A sweep pairs each with the study's setting by combination and seed: the same initial weights
 * and data order (init and shuffling depend on the seed and the layer sizes alone).
 */
export const Intervention = { none: 'none', outLinear: 'out-linear', outLeaky: 'out-leaky', outBias: 'out-bias' } as const;
export type Intervention = (typeof Intervention)[keyof typeof Intervention];
export const INTERVENTIONS: readonly Intervention[] = Object.values(Intervention);

/**
 * `out-bias`: what is added to every initial bias of the output layer. Fixed before any run was
 * looked at: at initialization the output pre-activation z = W·a + b of the study's MLP is a sum of
 * 256 terms |W| ≤ 1/16 times sigmoid outputs in (0, 1), spread roughly ±0.3 around b (|b| ≤ 1/16);
 * a shift of 1 puts z above 0 for nearly every input and output unit, so no output ReLU starts
 * inactive — what H1 says kills training — while every other weight stays as it was.
 */
export const OUT_BIAS_SHIFT = 1;

/** The activation of each layer as trained: the combination's, with an intervention's on the output. */
export function trainedActivations(c: Pick<RunConfig, 'activations' | 'intervention'>): TrainedActivation[] {
  const acts: TrainedActivation[] = [...c.activations];
  if (c.intervention === Intervention.outLinear) acts[acts.length - 1] = 'linear';
  if (c.intervention === Intervention.outLeaky) acts[acts.length - 1] = 'leakyrelu';
  return acts;
}

/**
 * Per-step probes (saturation, dead-relu, gradients) run every this many steps unless `--every`
 * says otherwise; loss and unit-activity run every step and distribution on its own schedule.
 * Every step would be 10× the rows for the same charts (a bucket of the report's 200 points per run
 * averages ~9 probed steps instead of ~94) and the same verdicts (taken on the test set).
 */
export const DEFAULT_EVERY = 10;

export const STUDY = {
  hidden: [500, 256],
  lr: 0.01,
  momentum: 0.5,
  batch: 32,
  epochs: 10,
  seed: 1,
} as const;

/**
 * A number as typed on the command line: decimal, with an optional fraction and exponent (500,
 * 0.01, 1e-2, 1e9). One rule for every numeric flag, whole or not: `1e9` is as whole as
 * 1000000000. Not hex, not '', not 'Infinity'.
 */
export function parseDecimal(raw: string): number {
  return /^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i.test(raw) ? Number(raw) : NaN;
}

function num(flag: string, raw: Raw<number> | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const v = typeof raw === 'number' ? raw : parseDecimal(raw);
  if (!Number.isFinite(v)) throw new ProbeError(ErrorCode.config, msg.notInRange(flag, raw, 'a finite number'));
  return v;
}

export function parseInteger(flag: string, raw: Raw<number> | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback;
  const v = typeof raw === 'number' ? raw : parseDecimal(raw);
  if (!Number.isSafeInteger(v) || v < min) throw new ProbeError(ErrorCode.config, msg.notInteger(flag, raw, min));
  return v;
}

function positive(flag: string, raw: Raw<number> | undefined, fallback: number): number {
  const v = num(flag, raw, fallback);
  if (!(v > 0)) throw new ProbeError(ErrorCode.config, msg.notPositive(flag, raw));
  return v;
}

function fraction(flag: string, raw: Raw<number> | undefined, fallback: number, range = 'a number in (0, 1)'): number {
  const v = num(flag, raw, fallback);
  if (!(v > 0 && v < 1)) throw new ProbeError(ErrorCode.config, msg.notInRange(flag, raw, range));
  return v;
}

function hidden(raw: Raw<readonly number[]> | undefined): number[] {
  if (raw === undefined) return [...STUDY.hidden];
  const parts = typeof raw === 'string' ? raw.split(',').map((s) => s.trim()) : raw.map(String);
  const widths = parts.map((p) => (/^\d+$/.test(p) ? Number(p) : NaN));
  if (widths.length === 0 || widths.some((w) => !Number.isSafeInteger(w) || w < 1)) {
    throw new ProbeError(ErrorCode.config, msg.badHidden(String(raw)));
  }
  return widths;
}

/** Every option of {@link RunInput}: anything else is refused with the nearest of these. */
export const RUN_INPUT_KEYS = optionKeys<RunInput>({
  combo: 1, hidden: 1, lr: 1, momentum: 1, batch: 1, epochs: 1, seed: 1, trainLimit: 1, testLimit: 1, dataDir: 1, dataset: 1, bn: 1, intervention: 1,
  backend: 1, engine: 1, probes: 1, every: 1, distributionEvery: 1, sigmoidLow: 1, sigmoidHigh: 1, tanhSat: 1, seluSat: 1,
  rules: 1, stopWhen: 1, warnWhen: 1,
});

/** `where` names the caller in the message about an unknown option. */
export function resolveConfig(input: RunInput, where = 'resolveConfig'): RunConfig {
  checkOptions(where, input, RUN_INPUT_KEYS);
  const h = hidden(input.hidden);
  const activations = parseCombo(input.combo, h.length + 1);
  const backend = input.backend ?? 'auto';
  if (!isBackendChoice(backend)) throw new ProbeError(ErrorCode.config, msg.badChoice(opt('backend'), backend, Object.values(BackendChoice)));
  const dataset = input.dataset ?? 'mnist';
  if (!isDatasetName(dataset)) throw new ProbeError(ErrorCode.config, msg.badDataset(dataset));
  const bn = input.bn ?? 'none';
  if (!(Object.values(BatchNormMode) as string[]).includes(bn)) throw new ProbeError(ErrorCode.config, msg.badChoice(opt('bn'), bn, Object.values(BatchNormMode)));
  const intervention = input.intervention ?? Intervention.none;
  if (!(INTERVENTIONS as readonly string[]).includes(intervention)) throw new ProbeError(ErrorCode.config, msg.badChoice(opt('intervention'), intervention, INTERVENTIONS));
  const engine = input.engine ?? 'fast';
  if (!isEngineKind(engine)) throw new ProbeError(ErrorCode.config, msg.badChoice(opt('engine'), engine, Object.values(EngineKind)));
  const probeList = probesOf(input.probes);
  const limit = (flag: string, raw: Raw<number> | null | undefined) => (raw == null ? null : parseInteger(flag, raw, 0, 1));
  const sigmoidLow = fraction(opt('sigmoidLow'), input.sigmoidLow, DEFAULT_PROBE_SETTINGS.sigmoidLow);
  const sigmoidHigh = fraction(opt('sigmoidHigh'), input.sigmoidHigh, DEFAULT_PROBE_SETTINGS.sigmoidHigh);
  if (sigmoidLow >= sigmoidHigh) {
    throw new ProbeError(ErrorCode.config, msg.notInRange(opt('sigmoidHigh'), input.sigmoidHigh ?? sigmoidHigh, `greater than ${opt('sigmoidLow')} (${sigmoidLow})`));
  }
  return {
    combo: comboName(activations),
    activations,
    hidden: h,
    lr: positive(opt('lr'), input.lr, STUDY.lr),
    momentum: (() => {
      const m = num(opt('momentum'), input.momentum, STUDY.momentum);
      if (!(m >= 0 && m < 1)) throw new ProbeError(ErrorCode.config, msg.notInRange(opt('momentum'), input.momentum, 'a number in [0, 1)'));
      return m;
    })(),
    batch: parseInteger(opt('batch'), input.batch, STUDY.batch, 1),
    epochs: parseInteger(opt('epochs'), input.epochs, STUDY.epochs, 1),
    seed: parseInteger(opt('seed'), input.seed, STUDY.seed, 0),
    trainLimit: limit(opt('trainLimit'), input.trainLimit),
    testLimit: limit(opt('testLimit'), input.testLimit),
    dataDir: input.dataDir ?? null,
    dataset,
    bn: bn as BatchNormMode,
    ...(intervention !== Intervention.none ? { intervention: intervention as Exclude<Intervention, 'none'> } : {}),
    backend,
    engine,
    probes: probeList,
    every: parseInteger(opt('every'), input.every, DEFAULT_EVERY, 1),
    thresholds: {
      ...DEFAULT_PROBE_SETTINGS,
      sigmoidLow,
      sigmoidHigh,
      tanhSat: fraction(opt('tanhSat'), input.tanhSat, DEFAULT_PROBE_SETTINGS.tanhSat),
      seluSat: fraction(opt('seluSat'), input.seluSat, DEFAULT_PROBE_SETTINGS.seluSat),
      distributionEvery: parseInteger(opt('distributionEvery'), input.distributionEvery, DEFAULT_PROBE_SETTINGS.distributionEvery, 1),
    },
    // --warn-when before --stop-when: a rule named in both stops
    rules: normalizeRules([
      ...parseRules(input.rules, RuleAction.stop, opt('rules')),
      ...parseRules(input.warnWhen, RuleAction.warn, opt('warnWhen')),
      ...parseRules(input.stopWhen, RuleAction.stop, opt('stopWhen')),
    ]),
  };
}

/** `all`, or the probes asked for, each once and in the registry's order (`loss,loss` = `loss`; `gradients,loss` = `loss,gradients`). */
function probesOf(raw: Raw<readonly string[]> | undefined): 'all' | ProbeId[] {
  if (raw === undefined || raw === 'all') return 'all';
  const ids = typeof raw === 'string' ? raw.split(',').map((s) => s.trim()).filter(Boolean) : [...raw];
  for (const id of ids) if (!isProbeId(id)) throw new ProbeError(ErrorCode.config, msg.unknownProbe(id, PROBE_IDS));
  return PROBE_IDS.filter((id) => ids.includes(id));
}

/** The probe ids a run's `probes` setting stands for. */
export function probeIds(probes: 'all' | readonly string[]): readonly string[] {
  return probes === 'all' ? PROBE_IDS : probes;
}

/** The run's file stem, e.g. `relu-sigmoid-relu_s1` (`…_bn-last_s1` with batch norm, `…_fashion-mnist` on other data). */
export function runName(c: Pick<RunConfig, 'combo' | 'seed'> & Partial<Pick<RunConfig, 'bn' | 'dataset' | 'intervention'>>): string {
  const bn = (c.bn && c.bn !== 'none' ? `_bn-${c.bn}` : '') + (c.intervention ? `_${c.intervention}` : '');
  const data = c.dataset && c.dataset !== 'mnist' ? `_${c.dataset}` : '';
  return `${c.combo}${bn}${data}_s${c.seed}`;
}

/** A run name given by the caller: one file name, nothing a path could escape with. */
export function checkRunName(name: unknown): string {
  if (typeof name !== 'string' || name === '' || /[/\\\0]/.test(name) || name === '.' || name === '..') throw new ProbeError(ErrorCode.config, msg.badRunName(String(name)));
  return name;
}

/**
 * Hash of everything that changes a run's numbers (not where it is written, nor the backend the
 * user asked for: the backend actually used is recorded separately).
 */
export function configHash(c: RunConfig): string {
  // no rules: hashed as before rules existed, so earlier traces keep their hash
  const { backend: _b, rules, ...rest } = c;
  void _b;
  return createHash('sha256').update(JSON.stringify(rules?.length ? { ...rest, rules } : rest)).digest('hex').slice(0, 16);
}
