/**
 * probe's library API without the parts that load tfjs or vega on import: what the CLI calls, and
 * everything `probe-nn` exports except the attach API (index.ts adds it). Training, backends,
 * reports, model runs and exports load their heavy modules on first call, so `probe --help`,
 * `inspect` and `compare` never load tfjs.
 */
export { ACTIVATIONS, ACTIVATION_SPECS, Activation, activationSpec, canDie, canSaturate, comboName, isActivation, layerActivation, parseCombo, specOf, type ActivationSpec } from './activations/index.js';
export { resolveConfig, runName, configHash, parseInteger, probeIds, INTERVENTIONS, Intervention, BatchNormMode, STUDY, type RunConfig, type RunInput } from './config.js';
export { ProbeError, ErrorCode, isProbeError } from './errors.js';
export type { RunOptions, RunResult, RunListener, EpochSummary, LayerFigure } from './experiment/run.js';
export { loadMnist, loadDataset, type Dataset, type Split } from './train/data.js';
export { BackendChoice, EngineKind, type BackendName } from './train/choices.js';
export type { BackendInfo } from './train/backend.js';
export type { TensorHooks, ForwardTensors, BackwardTensors, UpdateTensors, NetworkTensors, StepInfo } from './train/hooks.js';
export type { Probe, LayerProbe, NetworkProbe, ProbeSettings, LayerInfo } from './probes/probe.js';
export { DEFAULT_PROBE_SETTINGS } from './probes/probe.js';
export { PROBE_IDS, ProbeId } from './probes/ids.js';
export { readTrace, readTraceMeta, type Trace, type TraceColumns, type TraceMeta } from './trace/reader.js';
export { TraceWriter } from './trace/writer.js';
export { summarizeTrace, metricRows, type TraceSummary } from './trace/summary.js';
export { Column, EvalMetric, MetaKey, RunProbe, RunStatus, TimingMetric, TRACE_VERSION, traceSchema } from './trace/schema.js';
export { runSweep, planSweep, workerCount, type SweepOptions, type SweepResult, type SweepListener, type PlannedRun } from './sweep/sweep.js';
export { expandCombos, parseSeeds, parseShard, type Shard } from './sweep/grid.js';
export { emitK8s, emitSlurm } from './sweep/emit.js';
export { collectTraces, INDEX_FILE, isIndexName } from './read/folder.js';
export { compareTraces, divergenceHeading, divergenceText, type Comparison, type Cell } from './compare/compare.js';
export { diagnoseTrace, diagnosisText, type RunDiagnosis, type Finding, type LayerHealth, type RunVerdict } from './read/diagnose.js';
export { RULE_TEXT as DIAGNOSIS_RULES } from './read/diagnose-rules.js';
/** The study's one line per run (H1/H2's mechanisms), for runs of its MLP. */
export { diagnoseTrace as studyDiagnosisOf, type Diagnosis as StudyDiagnosis } from './study/diagnosis-line.js';

import type { RunConfig, RunInput } from './config.js';
import type { RunOptions, RunResult } from './experiment/run.js';
import type { BackendChoice as Choice, BackendInfo } from './train/backend.js';
import type { ReportOptions, ReportResult } from './report/index.js';
import type { Comparison } from './compare/compare.js';
import type { ExportOptions, ExportResult } from './export/export.js';
import type { ModelRunInput, ModelRunOptions, ModelRunResult } from './attach/run-model.js';
import type { WatchOptions, WatchServer } from './watch/server.js';

export type { ReportOptions, ReportResult, ExportOptions, ExportResult, ModelRunInput, ModelRunOptions, ModelRunResult, WatchOptions, WatchServer };

/**
 * Serve the live view of a folder of traces on 127.0.0.1 (probe watch); loads vega on first call.
 *
 * @example
 * ```ts
 * const view = await startWatch('runs', { port: 6006 });
 * console.log(view.url); // http://127.0.0.1:6006/
 * await view.close();
 * ```
 */
export async function startWatch(dir: string, opts?: WatchOptions): Promise<WatchServer> {
  return (await import('./watch/server.js')).startWatch(dir, opts);
}

/** Train one combination with probes, writing its trace as it goes (loads tfjs on first call). */
export async function runExperiment(input: RunInput, opts?: RunOptions): Promise<RunResult> {
  return (await import('./experiment/run.js')).runExperiment(input, opts);
}

/** {@link runExperiment} from settings already resolved by {@link resolveConfig}. */
export async function runResolved(config: RunConfig, opts?: RunOptions): Promise<RunResult> {
  return (await import('./experiment/run.js')).runResolved(config, opts);
}

/** Train a saved TensorFlow.js model (model.json) with probes attached (loads tfjs on first call). */
export async function runModel(input: ModelRunInput, opts?: ModelRunOptions): Promise<ModelRunResult> {
  return (await import('./attach/run-model.js')).runModel(input, opts);
}

/** Sets the tfjs backend: `auto` takes the faster of tfjs-node and wasm, else cpu. */
export async function selectBackend(choice: Choice, ...rest: Tail<Parameters<typeof import('./train/backend.js').selectBackend>>): Promise<BackendInfo> {
  return (await import('./train/backend.js')).selectBackend(choice, ...rest);
}

type Tail<T extends readonly unknown[]> = T extends readonly [unknown, ...infer R] ? R : never;

/** Traces in, a dashboard that tests the study's hypotheses out (see src/report/index.ts). */
export async function buildReport(inputs: readonly string[], opts?: ReportOptions): Promise<ReportResult> {
  return (await import('./report/index.js')).buildReport(inputs, opts);
}

/** A comparison as a standalone HTML page (loads vega-lite on first call). */
export async function compareHtml(c: Comparison): Promise<string> {
  return (await import('./compare/html.js')).compareHtml(c);
}

/** Traces as one tidy table, Parquet or CSV (see src/export/export.ts). */
export async function exportTraces(inputs: readonly string[], file: string, opts: ExportOptions): Promise<ExportResult> {
  return (await import('./export/export.js')).exportTraces(inputs, file, opts);
}
