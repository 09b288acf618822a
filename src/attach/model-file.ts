/**
 * Models saved in the TensorFlow.js layers format: `model.json` (topology, and a weights manifest
 * naming binary shards beside it). `@tensorflow/tfjs` has no `file://` handler in Node (tfjs-node
 * has), so these read and write the files themselves and hand tfjs the artifacts in memory.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ProbeError, ErrorCode } from '../errors.js';
import { msg } from '../messages.js';
import { ensureWritableDir } from '../fs-util.js';

export interface LoadedModel {
  readonly model: tf.LayersModel;
  /** `file`: weights read from the manifest's shards; `fresh`: topology only, weights to be drawn */
  readonly weights: 'file' | 'fresh';
  readonly path: string;
}

interface ModelJson {
  readonly modelTopology?: unknown;
  readonly format?: string;
  readonly weightsManifest?: readonly { readonly paths: readonly string[]; readonly weights: readonly tf.io.WeightsManifestEntry[] }[];
}

function why(cause: unknown): string {
  const code = (cause as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'a folder, not a file';
  if (code === 'EACCES') return 'permission denied';
  return ((cause as Error).message ?? String(cause)).split('\n')[0];
}

/** Reads a layers-format model; every way it can be wrong is one {@link ProbeError} line. */
export async function loadModelFile(path: string): Promise<LoadedModel> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ProbeError(ErrorCode.config, msg.modelUnreadable(path, why(cause)), { cause });
  }
  let json: ModelJson;
  try {
    json = JSON.parse(text) as ModelJson;
  } catch (cause) {
    throw new ProbeError(ErrorCode.config, msg.modelUnreadable(path, `not JSON (${why(cause)})`), { cause });
  }
  if (json === null || typeof json !== 'object' || json.modelTopology == null) {
    throw new ProbeError(ErrorCode.config, msg.notLayersModel(path, json?.format === 'graph-model' ? 'it is a graph model (inference only)' : 'it has no modelTopology'));
  }
  if (json.format === 'graph-model') throw new ProbeError(ErrorCode.config, msg.notLayersModel(path, 'it is a graph model (inference only)'));
  const manifest = json.weightsManifest ?? [];
  const specs: tf.io.WeightsManifestEntry[] = [];
  const shards: Uint8Array[] = [];
  for (const group of manifest) {
    for (const p of group.paths) {
      const file = join(dirname(path), p);
      try {
        shards.push(readFileSync(file));
      } catch (cause) {
        throw new ProbeError(ErrorCode.config, msg.modelUnreadable(file, `${why(cause)}; it is named in ${path}'s weightsManifest`), { cause });
      }
    }
    specs.push(...group.weights);
  }
  const hasWeights = specs.length > 0;
  let weightData: ArrayBuffer | undefined;
  if (hasWeights) {
    const total = shards.reduce((s, b) => s + b.byteLength, 0);
    const all = new Uint8Array(total);
    let o = 0;
    for (const b of shards) { all.set(b, o); o += b.byteLength; }
    weightData = all.buffer;
  }
  try {
    const model = await tf.loadLayersModel(tf.io.fromMemory({
      modelTopology: json.modelTopology as object,
      ...(hasWeights ? { weightSpecs: specs, weightData } : {}),
    }));
    return { model, weights: hasWeights ? 'file' : 'fresh', path };
  } catch (cause) {
    const m = why(cause);
    const unknown = /Unknown (layer|activation|initializer|regularizer|constraint|loss|metric)[^:]*: (\S+?)\./.exec(m);
    if (unknown) throw new ProbeError(ErrorCode.config, msg.modelUnknownClass(path, unknown[1], unknown[2]), { cause });
    throw new ProbeError(ErrorCode.config, msg.notLayersModel(path, m), { cause });
  }
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
