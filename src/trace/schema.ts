/**
 * The trace format, declared once. Writer, reader, report and compare import names from here.
 *
 * A trace is an Apache Arrow IPC file in long format: one row per (step, layer, probe, metric).
 * Layer 0 holds whole-network figures (loss, accuracy, evaluation); layers 1..L are the dense
 * layers, the last being the output layer. Run-level facts (config, backend, versions, timing,
 * status) are JSON strings in the schema's custom metadata under the keys of {@link MetaKey}.
 */
import { Dictionary, Field, Float32, Int16, Int32, Int8, Schema, Utf8 } from 'apache-arrow';

/** Bump when a column or a metadata key changes meaning. */
export const TRACE_VERSION = '1';

export const Column = {
  run: 'run',
  step: 'step',
  epoch: 'epoch',
  layer: 'layer',
  probe: 'probe',
  metric: 'metric',
  value: 'value',
} as const;

/**
 * Columns `probe export` adds to a trace's own: the run's facts, repeated on each row, so one
 * table holds a whole sweep (src/export/export.ts).
 */
export const ExportColumn = {
  run: 'run',
  combo: 'combo',
  seed: 'seed',
  /** dataset and batch norm, as the report groups runs: `mnist`, `mnist · bn-last` */
  variant: 'variant',
  dataset: 'dataset',
  bn: 'bn',
  backend: 'backend',
  /** `complete`, or `truncated` for a run that did not finish */
  status: 'status',
  /** activation of layer k (1-based), the same on every row of a run */
  act: (k: number) => `act_${k}`,
  /** activation of the row's own layer; null on layer 0 */
  activation: 'activation',
} as const;

/** Dictionary ids are fixed: the file format allows no replacement dictionaries. */
const DICT_ID = { run: 0, probe: 1, metric: 2 } as const;

export const MetaKey = {
  version: 'probe.trace_version',
  /** JSON: the resolved {@link RunConfig} */
  config: 'probe.config',
  /** JSON: {@link RunFacts}, everything known at start */
  facts: 'probe.facts',
  /** JSON: {@link RunProgress}, rewritten at every checkpoint */
  progress: 'probe.progress',
} as const;

/**
 * `complete`, `diverged` and `stopped` are final: the run did all it could (a diverged run stopped
 * when its loss or weights stopped being finite numbers; a stopped one when a rule it was given
 * with the stop action fired, `--stop-when`: training it further is what the rule was there to
 * spare). The others mean the run ended early and may be resumed or redone.
 */
export const RunStatus = { running: 'running', complete: 'complete', diverged: 'diverged', stopped: 'stopped', interrupted: 'interrupted', failed: 'failed' } as const;
export type RunStatus = (typeof RunStatus)[keyof typeof RunStatus];

/** A run that ended on its own terms (complete, diverged, or stopped by a rule), as opposed to a truncated one. */
export function isFinished(status: RunStatus): boolean {
  return status === RunStatus.complete || status === RunStatus.diverged || status === RunStatus.stopped;
}

/** Probes that are not measurements of a step but of the run. */
export const RunProbe = {
  /** per epoch, on layer 0: {@link EvalMetric} */
  eval: 'eval',
  /** per epoch, on layer 0: {@link TimingMetric} */
  timing: 'timing',
} as const;

/** Rows of the `eval` probe: loss and accuracy on the test set, and the training loss averaged over the epoch. */
export const EvalMetric = { testLoss: 'test_loss', testAcc: 'test_acc', trainLoss: 'train_loss' } as const;
export type EvalMetric = (typeof EvalMetric)[keyof typeof EvalMetric];
export const EVAL_METRICS: readonly EvalMetric[] = Object.values(EvalMetric);

/** Rows of the `timing` probe: seconds of wall time, and those spent in probes and trace writing (never compared across runs). */
export const TimingMetric = { epochSeconds: 'epoch_seconds', probeSeconds: 'probe_seconds', writeSeconds: 'write_seconds' } as const;
export type TimingMetric = (typeof TimingMetric)[keyof typeof TimingMetric];
export const TIMING_METRICS: readonly TimingMetric[] = Object.values(TimingMetric);

/** The magic bytes an Arrow IPC file starts and ends with (writer.ts writes them, reader.ts checks them). */
export const ARROW_MAGIC = 'ARROW1';

export function traceSchema(metadata: ReadonlyMap<string, string> = new Map()): Schema {
  return new Schema(
    [
      new Field(Column.run, new Dictionary(new Utf8(), new Int8(), DICT_ID.run), false),
      new Field(Column.step, new Int32(), false),
      new Field(Column.epoch, new Int16(), false),
      new Field(Column.layer, new Int8(), false),
      new Field(Column.probe, new Dictionary(new Utf8(), new Int8(), DICT_ID.probe), false),
      new Field(Column.metric, new Dictionary(new Utf8(), new Int16(), DICT_ID.metric), false),
      new Field(Column.value, new Float32(), false),
    ],
    new Map(metadata),
  );
}

/**
 * Engines of runs whose model is not probe's MLP: `attach` (a tfjs model: attachProbes, `probe run
 * --model`) and `pytorch` (probe_torch, python/). Their layers carry names and classes, their
 * config an optimizer; the study's groups do not count them.
 */
export const AttachedEngine = { attach: 'attach', pytorch: 'pytorch' } as const;
export type AttachedEngine = (typeof AttachedEngine)[keyof typeof AttachedEngine];

/** Whether a run's model is someone else's (a tfjs or PyTorch model), not probe's own MLP. */
export function isAttached(facts: Pick<RunFacts, 'engine'>): boolean {
  return Object.values(AttachedEngine).includes(facts.engine as AttachedEngine);
}

/** What is known when a run starts. */
export interface RunFacts {
  readonly run: string;
  readonly combo: string;
  readonly seed: number;
  readonly backend: string;
  /** under `--backend auto`: ms per step timed on each fast backend, the smallest chosen */
  readonly backendCalibration?: { readonly msPerStep: Readonly<Record<string, number>>; readonly measuredAt: string; readonly cached: boolean };
  /** `fast` or `tape` for probe's own MLP; an {@link AttachedEngine} for a model someone else trained */
  readonly engine: string;
  /** which matrix-product kernels ran: `wasm-relaxed-simd`, `wasm-simd` or `tfjs` (absent in older traces) */
  readonly kernels?: string;
  /** whether activations and their derivatives ran fused into the products (own exp; kernels/fused.ts) rather than as tfjs ops (`PROBE_FUSED=0`, the cpu backend); absent in older traces */
  readonly fusedActivations?: boolean;
  /** whether the input layer ran over the batches' nonzeros (a mostly-background input such as MNIST; train/kernels/sparse.ts) rather than dense (`PROBE_SPARSE=0`, other backends); absent in older traces */
  readonly sparseInput?: boolean;
  /** versions of node, probe, tfjs, the backend and apache-arrow */
  readonly versions: Readonly<Record<string, string>>;
  readonly startedAt: string;
  readonly host: { readonly platform: string; readonly arch: string; readonly cpus: number };
  readonly dataset: { readonly name: string; readonly source: string; readonly trainSize: number; readonly testSize: number };
  readonly layers: readonly LayerFacts[];
  readonly stepsPerEpoch: number;
  /** layers of an attached model that the probes cannot see, and why (absent for probe's own MLP) */
  readonly unprobed?: readonly { readonly name: string; readonly className: string; readonly reason: string }[];
  /**
   * each time the run was taken up again from a checkpoint of an unfinished trace: the step it went
   * on from, when, and the backend and kernels from then on (absent: the run ran in one go)
   */
  readonly resumed?: readonly Resumption[];
}

export interface Resumption {
  readonly step: number;
  readonly at: string;
  readonly backend: string;
  readonly kernels?: string;
}

/** One probed layer. The optional fields are written for attached models (engine `attach`). */
export interface LayerFacts {
  readonly layer: number;
  readonly activation: string;
  readonly fanIn: number;
  /** units (a convolution's channels) */
  readonly fanOut: number;
  /** the layer's name and tfjs class */
  readonly name?: string;
  readonly className?: string;
  readonly unitKind?: 'unit' | 'channel';
  /** output shape without the batch axis */
  readonly outputShape?: readonly number[];
  /** LeakyReLU's or ELU's alpha, ReLU's max value */
  readonly activationParam?: number;
}

/** What changes while it runs; the last checkpoint's version is the one in the file. */
export interface RunProgress {
  readonly status: RunStatus;
  readonly epochsDone: number;
  readonly stepsDone: number;
  readonly updatedAt: string;
  readonly endedAt: string | null;
  readonly epochSeconds: readonly number[];
  /**
   * share of wall time spent in the probes' own compute and readback. Not their whole cost: the
   * engine's work for them on every probed step (hooks, the values it hands over) is not in it;
   * the bench measures that per step against no probes (its "run's default schedules" column;
   * README, Performance)
   */
  readonly probeOverhead: number | null;
  /** share of wall time spent appending rows and writing the file */
  readonly writeOverhead: number | null;
  /** figures of the last finished epoch, so indexes need only the footer */
  readonly final?: FinalFigures;
  /** set when status is `diverged`: the step at which it was seen, and what was not finite */
  readonly diverged?: Divergence;
  /** set when status is `stopped`: the rule that stopped the run, at which step, on which values */
  readonly stopped?: RuleEvent;
  /** every rule that fired (warn or stop), in order: each (rule, layer) once */
  readonly rules?: readonly RuleEvent[];
}

/** A rule that fired (src/rules/): what it saw, where and when. */
export interface RuleEvent {
  /** `dead-output`, `saturation`, … */
  readonly rule: string;
  readonly action: 'warn' | 'stop';
  /** the probed step at which it fired */
  readonly step: number;
  /** the first probed step of the span over which its condition held at every probed step */
  readonly since: number;
  /** 0: the loss */
  readonly layer: number;
  readonly metric: string;
  /** the value at `step` (NaN and ±∞ are stored as null) */
  readonly value: number | null;
  readonly threshold: number | null;
  readonly patience: number;
  /** one line that says it */
  readonly text: string;
}

export interface Divergence {
  /** the step whose loss was not finite, or the last step before weights were found not finite */
  readonly step: number;
  readonly reason: string;
}

export interface FinalFigures {
  readonly epoch: number;
  readonly testAcc: number;
  readonly testLoss: number;
  readonly trainLoss: number;
  /** mean over the epoch's probed steps, keyed `layer/probe/metric` */
  readonly means: Readonly<Record<string, number>>;
  /** the diagnosis at the epoch's evaluation (test set), keyed `layer/metric`; NaN is stored as null */
  readonly diagnosis?: Readonly<Record<string, number | null>>;
}
