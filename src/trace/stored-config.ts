/**
 * The settings a trace stores (`probe.config`), read back typed and checked once, when the trace
 * is read; every reader (summary, report, sweep, index, export, watch) takes them from here, never
 * from the raw JSON.
 *
 * Traces `probe run` and `probe sweep` write hold a {@link RunConfig} and its hash. Such a config
 * comes back as `run` only when it has exactly a RunConfig's fields with their types and its hash
 * still matches — so `run` is the config this probe would resolve, not a guess; traces of attached
 * models (`source` 'attach', 'model-file' or 'pytorch'), of older probes, or edited by hand keep `run` null
 * and still give the common figures below.
 */
import { configHash, type RunConfig } from '../config.js';
import { isRuleName, RuleAction, type RuleConfig } from '../rules/rules.js';

/** The dataset of an attached model's trace whose config does not name it (readers may know it from the facts). */
export const DATASET_NOT_RECORDED = 'data not recorded';

export type ConfigSource = 'probe' | 'model-file' | 'attach' | 'pytorch' | 'unknown';

export interface StoredConfig {
  /** who wrote it: probe's own engine, `probe run --model`, `attachProbes`, probe_torch, or not known */
  readonly source: ConfigSource;
  readonly configHash: string | null;
  /** epochs planned, when the writer knew them */
  readonly epochs: number | null;
  readonly batch: number | null;
  /**
   * the dataset's name: the study's `mnist` when one of probe's own (or an older) trace does not
   * record it; {@link DATASET_NOT_RECORDED} for an attached model's (its caller's data is not probe's to name)
   */
  readonly dataset: string;
  /** batch normalization (`none` when not recorded) */
  readonly bn: string;
  /** the intervention on the output layer (`none` when not recorded) */
  readonly intervention: string;
  /** probes configured: `all` (every probe of the version that wrote it), or those named (empty when not recorded) */
  readonly probes: 'all' | readonly string[];
  /**
   * the rules the run was given (--stop-when, --warn-when, attachProbes' `rules`), as in force for
   * it: probe's runs and attached models store them alike; entries that are not a known rule with
   * its numbers are left out; none when not recorded
   */
  readonly rules: readonly RuleConfig[];
  /** the full RunConfig, checked against its hash; null for anything else */
  readonly run: RunConfig | null;
  /** the JSON as stored, for settings no type covers (attached models) and for comparing settings */
  readonly raw: Readonly<Record<string, unknown>>;
}

/** A RunConfig's fields and the JavaScript type of each (arrays and objects as 'object', nullable as a pair). */
const RUN_FIELDS: Readonly<Record<keyof RunConfig, readonly string[]>> = {
  combo: ['string'], activations: ['array'], hidden: ['array'], lr: ['number'], momentum: ['number'],
  batch: ['number'], epochs: ['number'], seed: ['number'], trainLimit: ['number', 'null'],
  testLimit: ['number', 'null'], dataDir: ['string', 'null'], dataset: ['string'], bn: ['string'],
  backend: ['string'], engine: ['string'], probes: ['array', 'string'], every: ['number'], thresholds: ['object'],
  rules: ['array'],
  // optional: absent when the run had none
  intervention: ['string', 'absent'],
};

/** Fields a RunConfig of an earlier probe may lack, and the value it then means. */
const OPTIONAL: Readonly<Partial<Record<keyof RunConfig, unknown>>> = { rules: [] };

const kind = (v: unknown) => (v === undefined ? 'absent' : v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

function asRunConfig(raw: Readonly<Record<string, unknown>>): RunConfig | null {
  const { configHash: hash, ...stored } = raw;
  const rest: Record<string, unknown> = { ...OPTIONAL, ...stored };
  const fields = Object.keys(RUN_FIELDS) as (keyof RunConfig)[];
  if (typeof hash !== 'string' || Object.keys(rest).some((k) => !(fields as string[]).includes(k))) return null;
  if (!fields.every((f) => RUN_FIELDS[f].includes(kind(rest[f])))) return null;
  const run = rest as unknown as RunConfig;
  return configHash(run) === hash ? run : null;
}

/** The rules stored with a run: known rules with their numbers (a threshold JSON wrote as null is NaN, as the non-finite rule's is). */
function rulesOf(raw: unknown): RuleConfig[] {
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((r): RuleConfig[] => {
    if (r === null || typeof r !== 'object') return [];
    const { rule, action, threshold, patience } = r as Record<string, unknown>;
    if (typeof rule !== 'string' || !isRuleName(rule) || (action !== RuleAction.warn && action !== RuleAction.stop)) return [];
    if (!(typeof threshold === 'number' || threshold === null) || typeof patience !== 'number') return [];
    return [{ rule, action, threshold: threshold ?? NaN, patience }];
  });
}

/** Reads a trace's stored config; anything that is not an object reads as an empty one. */
export function readStoredConfig(json: unknown): StoredConfig {
  const raw: Readonly<Record<string, unknown>> = json !== null && typeof json === 'object' && !Array.isArray(json) ? (json as Record<string, unknown>) : {};
  const run = asRunConfig(raw);
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const source: ConfigSource = run ? 'probe' : raw.source === 'attach' || raw.source === 'model-file' || raw.source === 'pytorch' ? raw.source : 'unknown';
  return {
    source,
    configHash: typeof raw.configHash === 'string' ? raw.configHash : null,
    epochs: num(raw.epochs),
    batch: num(raw.batch),
    dataset: typeof raw.dataset === 'string' ? raw.dataset : source === 'attach' || source === 'model-file' || source === 'pytorch' ? DATASET_NOT_RECORDED : 'mnist',
    bn: typeof raw.bn === 'string' ? raw.bn : 'none',
    intervention: typeof raw.intervention === 'string' ? raw.intervention : 'none',
    // traces before 2026-12-07 list every probe where newer ones say `all`
    probes: raw.probes === 'all' ? 'all' : Array.isArray(raw.probes) ? raw.probes.filter((p): p is string => typeof p === 'string') : [],
    rules: rulesOf(raw.rules),
    run,
    raw,
  };
}
