/**
 * A layers-format model's weights manifest, checked before any shard is read: every group is
 * `{ paths: [file, …], weights: [{ name, shape, dtype }, …] }`, so the bytes the shards must
 * hold follow from the declared shapes. Its shards are read only if each is a regular file in the
 * model's folder (links resolved), and only when their sizes add up to what the shapes declare:
 * a manifest naming `../secret`, `/proc/self/environ`, a FIFO or `/dev/zero` is refused in one
 * line without reading it, or telling its size.
 */
import { closeSync, readSync, realpathSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type tf from '../tf.cjs';
import { ProbeError, ErrorCode } from '../errors.js';
import { msg } from '../messages.js';
import { openConfined, RefusedPath } from '../fs-util.js';

/** Bytes per stored value: tfjs's dtypes, and the quantized forms the converter writes. */
const DTYPE_BYTES: Readonly<Record<string, number>> = { float32: 4, int32: 4, bool: 1, complex64: 8 };
const QUANTIZED_BYTES: Readonly<Record<string, number>> = { uint8: 1, uint16: 2, float16: 2 };

export interface WeightManifest {
  /** shard paths as written, in order (all groups' shards are read as one run of bytes) */
  readonly paths: readonly string[];
  readonly specs: readonly tf.io.WeightsManifestEntry[];
  /** bytes the shards must hold, from the declared shapes */
  readonly bytes: number;
  /** values declared (the model's parameters, when it has weights) */
  readonly values: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The manifest of `path` (its model.json) checked entry by entry; the first fault is one line naming it. */
export function checkManifest(path: string, raw: unknown): WeightManifest {
  const bad = (where: string, got: unknown, want: string) => new ProbeError(ErrorCode.config, msg.badManifest(path, where, got, want));
  if (raw === undefined || raw === null) return { paths: [], specs: [], bytes: 0, values: 0 };
  if (!Array.isArray(raw)) throw bad('weightsManifest', raw, 'a list of groups, each { "paths": [shard files], "weights": [entries] }');
  const paths: string[] = [], specs: tf.io.WeightsManifestEntry[] = [];
  let bytes = 0, values = 0;
  raw.forEach((group: unknown, g) => {
    const at = `weightsManifest[${g}]`;
    if (!isObject(group)) throw bad(at, group, 'a group { "paths": [shard files], "weights": [entries] }');
    if (!Array.isArray(group.paths)) throw bad(`${at}.paths`, group.paths, 'a list of shard file names');
    group.paths.forEach((p: unknown, i) => {
      if (typeof p !== 'string' || p === '') throw bad(`${at}.paths[${i}]`, p, 'a shard file name');
      paths.push(p);
    });
    if (!Array.isArray(group.weights)) throw bad(`${at}.weights`, group.weights, 'a list of weight entries { "name", "shape", "dtype" }');
    group.weights.forEach((w: unknown, i) => {
      const wat = `${at}.weights[${i}]`;
      if (!isObject(w)) throw bad(wat, w, 'a weight entry { "name", "shape", "dtype" }');
      if (typeof w.name !== 'string') throw bad(`${wat}.name`, w.name, 'a string');
      if (!Array.isArray(w.shape) || !w.shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) throw bad(`${wat}.shape`, w.shape, 'a list of whole numbers ≥ 0');
      const quantized = w.quantization;
      let per: number | undefined;
      if (quantized !== undefined) {
        if (!isObject(quantized)) throw bad(`${wat}.quantization`, quantized, 'an object with a "dtype"');
        per = QUANTIZED_BYTES[quantized.dtype as string];
        if (per === undefined) throw bad(`${wat}.quantization.dtype`, quantized.dtype, Object.keys(QUANTIZED_BYTES).join(', '));
      }
      const dtypeBytes = DTYPE_BYTES[w.dtype as string];
      if (dtypeBytes === undefined) throw bad(`${wat}.dtype`, w.dtype, Object.keys(DTYPE_BYTES).join(', '));
      const n = (w.shape as number[]).reduce((a, b) => a * b, 1);
      values += n;
      bytes += n * (per ?? dtypeBytes);
      specs.push(w as unknown as tf.io.WeightsManifestEntry);
    });
  });
  if (specs.length > 0 && paths.length === 0) throw bad('weightsManifest[*].paths', [], 'the shard files holding the declared weights');
  return { paths, specs, bytes, values };
}

/**
 * The shards' bytes, in order. Each must be a regular file inside the folder of `path` (after
 * resolving links); their sizes, taken from the opened descriptors, must add up to what the
 * manifest declares before a byte is read.
 */
export function readShards(path: string, m: WeightManifest): Uint8Array {
  const dir = dirname(path);
  let root: string;
  try { root = realpathSync(dir); } catch (cause) { throw new ProbeError(ErrorCode.config, msg.modelUnreadable(path, 'its folder cannot be resolved'), { cause }); }
  const open: { fd: number; size: number }[] = [];
  try {
    for (const p of m.paths) {
      const file = resolve(dir, p);
      try {
        open.push(openConfined(root, file));
      } catch (e) {
        if (!(e instanceof RefusedPath)) throw e;
        if (e.refusal === 'outside') throw new ProbeError(ErrorCode.config, msg.shardOutside(path, p, root), { cause: e });
        if (e.refusal === 'not-file') throw new ProbeError(ErrorCode.config, msg.shardNotFile(path, p, e.detail), { cause: e });
        throw new ProbeError(ErrorCode.config, msg.modelUnreadable(file, `${e.detail}; it is named in ${path}'s weightsManifest`), { cause: e });
      }
    }
    const held = open.reduce((s, o) => s + o.size, 0);
    if (held !== m.bytes) throw new ProbeError(ErrorCode.config, msg.shardSizes(path, m.bytes, held, m.values));
    const all = new Uint8Array(held);
    let at = 0;
    for (const o of open) {
      for (let got = 0; got < o.size;) {
        const n = readSync(o.fd, all, at + got, o.size - got, got);
        if (n === 0) throw new ProbeError(ErrorCode.config, msg.shardSizes(path, m.bytes, at + got, m.values));
        got += n;
      }
      at += o.size;
    }
    return all;
  } finally {
    for (const o of open) closeSync(o.fd);
  }
}
