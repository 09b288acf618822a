/**
 * probe's library API: everything the CLI does is one call here.
 *
 * @example
 * ```ts
 * import { runExperiment, readTrace, summarizeTrace } from 'probe-nn';
 * const r = await runExperiment({ combo: 'relu-sigmoid-relu', epochs: 1, trainLimit: 3200 }, { out: 'runs' });
 * console.log(summarizeTrace(readTrace(r.path)).epochs);
 * ```
 *
 * api.ts holds the calls that load tfjs only when called (training, backends, reports); this
 * module adds the probes themselves and the attach API, which work on tfjs objects and so load
 * it on import.
 */
export * from './api.js';
export { PROBES, resolveProbes } from './probes/registry.js';
export { attachProbes, ProbeSession, type AttachOptions } from './attach/session.js';
export { studySequential } from './attach/study-model.js';
export type { EpochFigures } from './trace/recorder.js';
export type { LayerPlan, PlannedLayer, UnprobedLayer } from './attach/layer-plan.js';
export { loadModelFile, saveModelFiles } from './attach/model-file.js';
export { loadTensors, type TensorData } from './attach/model-input.js';
