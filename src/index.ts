/**
 * probe's library API: everything the CLI does is one call here.
 *
 * @example
 * ```ts
 * import { runExperiment, readTrace, summarizeTrace } from 'probe-nn';
 * const r = await runExperiment({ combo: 'relu-sigmoid-relu', epochs: 1, trainLimit: 3200 }, { out: 'runs' });
 * console.log(summarizeTrace(readTrace(r.path)).epochs);
 * ```
 */
export { ACTIVATIONS, Activation, isActivation, parseCombo } from './activations/index.js';
export { resolveConfig, runName, configHash, STUDY, type RunConfig, type RunInput } from './config.js';
export { ProbeError, ErrorCode, isProbeError } from './errors.js';
export { runExperiment, runResolved, type RunOptions, type RunResult, type RunListener, type EpochSummary } from './train/run.js';
export { loadMnist, type Dataset, type Split } from './train/data.js';
export { selectBackend, type BackendChoice, type BackendName } from './train/backend.js';
export type { TensorHooks, ForwardTensors, BackwardTensors, UpdateTensors, NetworkTensors, StepInfo } from './train/hooks.js';
export { PROBES, PROBE_IDS, resolveProbes } from './probes/registry.js';
export type { Probe, LayerProbe, NetworkProbe, ProbeSettings, LayerInfo } from './probes/probe.js';
export { readTrace, type Trace, type TraceColumns } from './trace/reader.js';
export { TraceWriter } from './trace/writer.js';
export { summarizeTrace, metricRows, type TraceSummary } from './trace/summary.js';
export { Column, MetaKey, RunProbe, RunStatus, TRACE_VERSION, traceSchema } from './trace/schema.js';
export { attachProbes, ProbeSession, type AttachOptions } from './attach/session.js';
export { studySequential } from './attach/study-model.js';
export type { EpochFigures } from './attach/recorder.js';
export type { LayerPlan, PlannedLayer, UnprobedLayer } from './attach/layer-plan.js';
export { runModel, type ModelRunInput, type ModelRunOptions, type ModelRunResult } from './attach/run-model.js';
export { loadModelFile, saveModelFiles } from './attach/model-file.js';
export { loadTensors, type TensorData } from './attach/model-input.js';
