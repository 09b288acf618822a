/**
 * Models saved in the TensorFlow.js layers format: `model.json` (topology, and a weights manifest
 * naming binary shards beside it). `@tensorflow/tfjs` has no `file://` handler in Node (tfjs-node
 * has), so these read and write the files themselves and hand tfjs the artifacts in memory.
 */
import { createHash } from 'node:crypto';
import { closeSync, readSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import tf from '../tf-layers.cjs';
import { ProbeError, ErrorCode } from '../errors.js';
import { msg } from '../messages.js';
import { ensureWritableDir, openConfined, RefusedPath } from '../fs-util.js';
import { memoryNeed } from '../train/budget.js';
import { checkManifest, readShards, type WeightManifest } from './manifest.js';

interface ModelJson {
  readonly modelTopology?: unknown;
  readonly format?: string;
  readonly weightsManifest?: unknown;
}

export interface LoadedModel {
  readonly model: tf.LayersModel;
  /** `file`: weights read from the manifest's shards; `fresh`: topology only, weights to be drawn */
  readonly weights: 'file' | 'fresh';
  readonly path: string;
}

/** A model file read and checked, before tfjs builds anything from it (build it with {@link buildModel}). */
export interface ModelSource {
  readonly path: string;
  readonly topology: object;
  readonly manifest: WeightManifest;
  /** the shards' bytes, when the manifest declares weights */
  readonly weightData: ArrayBuffer | undefined;
  /** parameters the topology builds, counted without allocating them (a lower bound if it could not be built dry) */
  readonly params: number;
  /** of model.json's bytes */
  readonly digest: string;
}

function why(cause: unknown): string {
  const code = (cause as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'a folder, not a file';
  if (code === 'EACCES') return 'permission denied';
  return ((cause as Error).message ?? String(cause)).split('\n')[0];
}

/** model.json's text, only from a regular file (a FIFO would block, /dev/zero fill memory). */
function readModelJson(path: string): string {
  let opened;
  try {
    opened = openConfined(realpathSync(dirname(path)), path);
  } catch (cause) {
    const w = cause instanceof RefusedPath ? (cause.refusal === 'not-file' ? `it is ${cause.detail}, not a file` : cause.detail) : why(cause);
    throw new ProbeError(ErrorCode.config, msg.modelUnreadable(path, w), { cause });
  }
  try {
    const buf = Buffer.alloc(opened.size);
    for (let at = 0; at < buf.length;) {
      const n = readSync(opened.fd, buf, at, buf.length - at, at);
      if (n === 0) break;
      at += n;
    }
    return buf.toString('utf8');
  } finally {
    closeSync(opened.fd);
  }
}

/**
 * What the topology would allocate, counted without allocating it: tfjs builds every layer's
 * weights through `Layer.addWeight`, which a dry build replaces by a counter handing back
 * placeholders. modelFromJSON builds the layers before its first await, so the original is back
 * before any other code runs; the dry model is dropped (the real load reports its errors).
 */
function countParameters(topology: object): number {
  const proto = tf.layers.Layer.prototype as unknown as { addWeight: (...args: unknown[]) => unknown };
  const addWeight = proto.addWeight;
  let n = 0;
  proto.addWeight = (name: unknown, weightShape: unknown, dtype?: unknown) => {
    const shape = weightShape as readonly (number | null)[];
    n += shape.reduce((a: number, b) => a * (b ?? 1), 1);
    const none = () => { throw new Error('a dry build holds no weights'); };
    return { name, originalName: name, shape, dtype: dtype ?? 'float32', trainable: true, id: -1, read: none, write: none, dispose: () => {} };
  };
  let dry: Promise<unknown>;
  try {
    dry = tf.models.modelFromJSON({ modelTopology: topology } as Parameters<typeof tf.models.modelFromJSON>[0]);
  } catch {
    dry = Promise.resolve();
  } finally {
    proto.addWeight = addWeight;
  }
  dry.catch(() => undefined);
  return n;
}

/**
 * Reads and checks a layers-format model without building it: model.json (a regular file), its
 * weights manifest entry by entry, the parameter budget (train/budget.ts) for `backend`, and the
 * shards (manifest.ts). Every way it can be wrong is one {@link ProbeError} line.
 */
export function readModelSource(path: string, opts: { backend?: string } = {}): ModelSource {
  const text = readModelJson(path);
  let json: ModelJson;
  try {
    json = JSON.parse(text) as ModelJson;
  } catch (cause) {
    throw new ProbeError(ErrorCode.config, msg.modelUnreadable(path, `not JSON (${why(cause)})`), { cause });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json) || json.modelTopology == null || typeof json.modelTopology !== 'object') {
    throw new ProbeError(ErrorCode.config, msg.notLayersModel(path, json?.format === 'graph-model' ? 'it is a graph model (inference only)' : 'it has no modelTopology object'));
  }
  if (json.format === 'graph-model') throw new ProbeError(ErrorCode.config, msg.notLayersModel(path, 'it is a graph model (inference only)'));
  const manifest = checkManifest(path, json.weightsManifest);
  const params = Math.max(countParameters(json.modelTopology), manifest.values);
  const backend = opts.backend ?? 'auto';
  const m = memoryNeed(params, backend);
  if (!m.fits) throw new ProbeError(ErrorCode.config, msg.modelFileTooBig(path, params, m.need, m.limit, backend));
  const weightData = manifest.specs.length > 0 ? readShards(path, manifest).buffer as ArrayBuffer : undefined;
  return { path, topology: json.modelTopology, manifest, weightData, params, digest: createHash('sha256').update(text).digest('hex').slice(0, 16) };
}

/** A tfjs model from a checked {@link ModelSource}; may be called again for a fresh copy. */
export async function buildModel(src: ModelSource): Promise<LoadedModel> {
  const hasWeights = src.weightData !== undefined;
  try {
    const model = await tf.loadLayersModel(tf.io.fromMemory({
      modelTopology: src.topology,
      ...(hasWeights ? { weightSpecs: [...src.manifest.specs], weightData: src.weightData } : {}),
    }));
    return { model, weights: hasWeights ? 'file' : 'fresh', path: src.path };
  } catch (cause) {
    const m = why(cause);
    const unknown = /Unknown (layer|activation|initializer|regularizer|constraint|loss|metric)[^:]*: (\S+?)\./.exec(m);
    if (unknown) throw new ProbeError(ErrorCode.config, msg.modelUnknownClass(src.path, unknown[1], unknown[2]), { cause });
    throw new ProbeError(ErrorCode.config, msg.notLayersModel(src.path, m), { cause });
  }
}

/** Reads a layers-format model ({@link readModelSource}) and builds it. */
export async function loadModelFile(path: string, opts: { backend?: string } = {}): Promise<LoadedModel> {
  return buildModel(readModelSource(path, opts));
}

/** Writes `model.json` and `weights.bin` into `dir`, as tfjs-node's `file://` handler would. */
export async function saveModelFiles(model: tf.LayersModel, dir: string, opts: { weights?: boolean } = {}): Promise<string> {
  ensureWritableDir(dir);
  const path = join(dir, 'model.json');
  await model.save(tf.io.withSaveHandler(async (a) => {
    const withWeights = opts.weights !== false && a.weightData !== undefined;
    const json = {
      modelTopology: a.modelTopology,
      format: a.format ?? 'layers-model',
      generatedBy: a.generatedBy,
      convertedBy: a.convertedBy ?? null,
      ...(withWeights ? { weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs ?? [] }] } : {}),
    };
    if (withWeights) {
      const data = a.weightData!;
      const parts = Array.isArray(data) ? data : [data];
      writeFileSync(join(dir, 'weights.bin'), Buffer.concat(parts.map((p) => new Uint8Array(p))));
    }
    writeFileSync(path, JSON.stringify(json));
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  return path;
}
