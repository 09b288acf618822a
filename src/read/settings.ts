/**
 * A run's settings as data: the values `probe export` and the sweep index write as columns, and
 * that `probe report --by` and `probe compare --by` group runs by. Read from the trace's stored
 * config and facts, whoever wrote it: probe's own runs have every one; a model run (`probe run
 * --model`) has those of its flags; an attached model has what its loop recorded (model.fit's
 * batch size and epochs, the optimizer and its learning rate, whatever `config` it was given);
 * a setting a trace does not know is null, never a guess.
 */
import { createHash } from 'node:crypto';
import type { StoredConfig } from '../trace/stored-config.js';
import type { RunFacts } from '../trace/schema.js';
import type { TraceMeta } from '../trace/reader.js';
import { ProbeError, ErrorCode } from '../errors.js';
import { msg, opt } from '../messages.js';
import { didYouMean } from '../options.js';

/** Column names, declared once (export, index, --by). */
export const Setting = {
  lr: 'lr',
  momentum: 'momentum',
  batch: 'batch',
  /** epochs planned (not done) */
  epochs: 'epochs',
  trainLimit: 'train_limit',
  testLimit: 'test_limit',
  bn: 'bn',
  /** an intervention on the output layer (`none`, `out-linear`, `out-leaky`, `out-bias`) */
  intervention: 'intervention',
  dataset: 'dataset',
  /** the backend the run used (not the one asked for) */
  backend: 'backend',
  engine: 'engine',
  configHash: 'config_hash',
  /** hidden widths, comma-separated (probe's MLP) */
  hidden: 'hidden',
  /** probes every N-th step */
  every: 'every',
  /** the optimizer's class (attached models; probe's own runs: SGD) */
  optimizer: 'optimizer',
  /**
   * a hash of every stored setting but the seed and the combination (and the backend asked for):
   * runs that differ only by seed and combination share it, so `group by combo, settings_hash`
   * pools seeds and nothing else
   */
  settingsHash: 'settings_hash',
} as const;
export type Setting = (typeof Setting)[keyof typeof Setting];
export const SETTINGS: readonly Setting[] = Object.values(Setting);
/** Settings that are numbers (the others are strings). */
export const NUMERIC_SETTINGS: ReadonlySet<Setting> = new Set([Setting.lr, Setting.momentum, Setting.batch, Setting.epochs, Setting.trainLimit, Setting.testLimit, Setting.every]);

export type SettingValues = { readonly [K in Setting]: number | string | null };

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** The settings of a run, from its stored config and facts. */
export function runSettings(config: StoredConfig, facts: Pick<RunFacts, 'backend' | 'engine' | 'dataset'>): SettingValues {
  const raw = config.raw;
  const opt = (raw.optimizer !== null && typeof raw.optimizer === 'object' ? raw.optimizer : {}) as Record<string, unknown>;
  const hidden = Array.isArray(raw.hidden) && raw.hidden.every((h) => typeof h === 'number') ? raw.hidden.join(',') : null;
  return {
    [Setting.lr]: num(raw.lr) ?? num(opt.learningRate),
    [Setting.momentum]: num(raw.momentum) ?? num(opt.momentum),
    [Setting.batch]: config.batch,
    [Setting.epochs]: config.epochs,
    [Setting.trainLimit]: num(raw.trainLimit),
    [Setting.testLimit]: num(raw.testLimit),
    [Setting.bn]: config.bn,
    [Setting.intervention]: config.intervention,
    // an attached model's data is the caller's: named only if the caller named it
    [Setting.dataset]: str(raw.dataset) ?? (facts.dataset?.name && facts.dataset.name !== 'unknown' ? facts.dataset.name : null),
    [Setting.backend]: str(facts.backend),
    [Setting.engine]: str(facts.engine),
    [Setting.configHash]: config.configHash,
    [Setting.hidden]: hidden,
    [Setting.every]: num(raw.every),
    // probe's engine steps with PyTorch's SGD with momentum; a model file is compiled with the same
    [Setting.optimizer]: str(opt.className) ?? (config.source === 'probe' || config.source === 'model-file' ? 'SGD' : null),
    [Setting.settingsHash]: settingsHash(raw),
  } as SettingValues;
}

/** Keys of a stored config that name the run rather than its settings. */
const NOT_SETTINGS = new Set(['configHash', 'seed', 'combo', 'activations', 'backend', 'model', 'modelFile']);

/** {@link Setting.settingsHash}: 16 hex digits of a SHA-256 of the stored settings, keys sorted. */
export function settingsHash(raw: Readonly<Record<string, unknown>>): string {
  const sorted = (v: unknown): unknown => (v !== null && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])])) : v);
  const kept = Object.fromEntries(Object.entries(raw).filter(([k]) => !NOT_SETTINGS.has(k)));
  return createHash('sha256').update(JSON.stringify(sorted(kept))).digest('hex').slice(0, 16);
}

/** Keys `--by` accepts: every setting, and the run's combination and seed. */
export const GROUP_KEYS: readonly string[] = ['combo', 'seed', ...SETTINGS];

/** A value as a group label shows it: `lr=0.01`, `train_limit=none`. */
export function settingLabel(key: string, value: number | string | null): string {
  return `${key}=${value === null ? 'none' : value}`;
}

/** The values of the `--by` keys for a run. */
export function groupValues(t: Pick<TraceMeta, 'config' | 'facts'>, keys: readonly string[]): Record<string, number | string | null> {
  const s = runSettings(t.config, t.facts) as Record<string, number | string | null>;
  const all: Record<string, number | string | null> = { combo: t.facts.combo, seed: t.facts.seed, ...s };
  return Object.fromEntries(keys.map((k) => [k, all[k] ?? null]));
}

/** `--by` keys as given, each one known (else refused, naming the nearest). */
export function checkGroupKeys(keys: readonly string[], flag = opt('by')): string[] {
  const out = keys.map((k) => k.trim()).filter(Boolean);
  for (const k of out) if (!GROUP_KEYS.includes(k)) throw new ProbeError(ErrorCode.config, msg.unknownGroupKey(flag, k, didYouMean(k, GROUP_KEYS), GROUP_KEYS));
  return [...new Set(out)];
}

