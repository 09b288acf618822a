/**
 * Writes a trace while training runs, so that a crash loses as little as possible.
 *
 * The file is a standard Arrow IPC file that is valid after every checkpoint: rows are buffered,
 * encoded as record batches, and at a checkpoint the new batches plus a fresh footer replace the
 * previous footer, then are synced. A process killed between checkpoints leaves the previous
 * checkpoint's file intact; one killed during a checkpoint leaves a file whose footer is damaged
 * but whose batches can still be read in order (the file carries the schema message after its
 * magic, as the format allows), which the reader recovers.
 *
 * A full disk must not cost the last checkpoint: the bytes that extend the file are written (and
 * synced) first, beyond the old footer; only then is the old footer overwritten, in place, which
 * needs no new space. If extending fails, the file is cut back to its old length, the previous
 * checkpoint is whole, and the writer refuses further writes.
 *
 * The first checkpoint is written under `<path>.partial` and appears at `path` complete (a reader
 * never sees an empty file there). When `path` already holds a file that is to be replaced, the
 * new trace stays at `<path>.partial` until it closes finished, then takes its place by a rename;
 * an interrupted or failed replacement leaves the old file as it was.
 */
import { closeSync, existsSync, fdatasyncSync, ftruncateSync, linkSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  Dictionary,
  makeData,
  makeVector,
  MetadataVersion,
  RecordBatch,
  RecordBatchFileWriter,
  RecordBatchWriter,
  Schema,
  Struct,
  vectorFromArray,
  Utf8,
  type Vector,
} from 'apache-arrow';
import { Footer } from 'apache-arrow/ipc/metadata/file';
import { ProbeError, ErrorCode } from '../errors.js';
import { msg } from '../messages.js';
import { compressBuffers, TRACE_COMPRESSION } from './codec.js';
import { ARROW_MAGIC, isFinished, MetaKey, TRACE_VERSION, traceSchema, type RunProgress } from './schema.js';

/** Where a trace is written until it may appear under its own name. */
export const PARTIAL_SUFFIX = '.partial';

/** Writes all of `buf[off, off+len)` at `pos` (writeSync may write less than asked). */
function writeAll(fd: number, buf: Uint8Array, off: number, len: number, pos: number): void {
  while (len > 0) {
    const n = writeSync(fd, buf, off, len, pos);
    off += n; pos += n; len -= n;
  }
}

const MAGIC = new TextEncoder().encode(ARROW_MAGIC);
const EOS = new Uint8Array(new Int32Array([-1, 0]).buffer);

/**
 * Arrow's file writer with its bytes collected here instead of a stream, the schema message kept,
 * and record batches compressed (codec.ts: LZ4_FRAME, with the buffer prefixes the format wants).
 */
class BatchEncoder extends RecordBatchFileWriter {
  private chunks: Uint8Array[] = [];
  constructor() {
    super({ compressionType: TRACE_COMPRESSION });
  }
  protected override _compressBodyBuffers(buffers: ArrayBufferView[]) {
    return compressBuffers(buffers);
  }
  protected override _writeSchema(schema: Schema): this {
    this._writeMagic()._writePadding(2);
    // The stream writer's schema message: lets a reader recover batches if the footer is lost.
    return RecordBatchWriter.prototype['_writeSchema'].call(this, schema) as this;
  }
  protected override _write(chunk: ArrayBufferView): this {
    if (this._started && chunk.byteLength > 0) {
      // copy: arrow may hand us views of buffers it reuses
      this.chunks.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength).slice());
      this._position += chunk.byteLength;
    }
    return this;
  }
  take(): Uint8Array[] {
    const c = this.chunks;
    this.chunks = [];
    return c;
  }
  get position(): number {
    return this._position;
  }
  footer(schema: Schema): Uint8Array {
    const body = Footer.encode(new Footer(schema, MetadataVersion.V5, this._recordBatchBlocks, this._dictionaryBlocks));
    const out = new Uint8Array(EOS.length + body.length + 4 + MAGIC.length);
    out.set(EOS, 0);
    out.set(body, EOS.length);
    new DataView(out.buffer).setInt32(EOS.length + body.length, body.length, true);
    out.set(MAGIC, EOS.length + body.length + 4);
    return out;
  }
}

export interface TraceHeader {
  /** the run's name, stored in the `run` column */
  readonly run: string;
  /** every probe name and every metric name that rows may use (dictionaries are fixed per file) */
  readonly probes: readonly string[];
  readonly metrics: readonly string[];
  /** JSON-encoded values, stored in the schema metadata under these keys */
  readonly metadata: Readonly<Record<string, unknown>>;
}

export interface CreateOptions {
  /**
   * replace an existing file instead of refusing: by a rename once the new trace closes finished
   * (complete or diverged); until then the old file stays as it is
   */
  readonly force?: boolean;
  /** rows per record batch */
  readonly batchRows?: number;
  /** a rerun of the same command resumes this trace (the engine's runs): what a failed write says to do */
  readonly resumable?: boolean;
}

export class TraceWriter {
  private fd: number | null;
  private readonly encoder = new BatchEncoder();
  private readonly schema: Schema;
  private readonly baseMeta: Map<string, string>;
  private readonly probeIndex = new Map<string, number>();
  private readonly metricIndex = new Map<string, number>();
  private readonly runDict: Vector<Utf8>;
  private readonly probeDict: Vector<Utf8>;
  private readonly metricDict: Vector<Utf8>;
  private readonly cap: number;
  private n = 0;
  private step: Int32Array;
  private epoch: Int16Array;
  private layer: Int8Array;
  private probe: Int8Array;
  private metric: Int16Array;
  private value: Float32Array;
  /** where the footer starts: everything before it is final */
  private written = 0;
  /** the file's length: the end of the last checkpoint's footer */
  private end = 0;
  private rowsWritten = 0;
  /** set by a failed write: the file holds the last good checkpoint, and nothing more is written */
  private failure: ProbeError | null = null;
  /** the file the rows go to: `path` once published, `<path>.partial` until then */
  private current: string;
  /** `path` holds an older file, replaced when this trace closes finished */
  private replacing: boolean;
  private readonly resumable: boolean;

  private constructor(readonly path: string, fd: number, header: TraceHeader, opts: CreateOptions & { replacing: boolean }) {
    this.fd = fd;
    this.current = path + PARTIAL_SUFFIX;
    this.replacing = opts.replacing;
    this.resumable = opts.resumable ?? false;
    this.cap = opts.batchRows ?? 16384;
    this.baseMeta = new Map([[MetaKey.version, TRACE_VERSION]]);
    for (const [k, v] of Object.entries(header.metadata)) this.baseMeta.set(k, JSON.stringify(v));
    this.schema = traceSchema(this.baseMeta);
    header.probes.forEach((p, i) => this.probeIndex.set(p, i));
    header.metrics.forEach((m, i) => this.metricIndex.set(m, i));
    // the probe and metric columns hold Int8 and Int16 dictionary codes
    if (header.probes.length > 127) throw new ProbeError(ErrorCode.trace, msg.dictionaryFull('probe', header.probes.length, 127));
    if (header.metrics.length > 32767) throw new ProbeError(ErrorCode.trace, msg.dictionaryFull('metric', header.metrics.length, 32767));
    this.runDict = vectorFromArray([header.run], new Utf8());
    this.probeDict = vectorFromArray([...header.probes], new Utf8());
    this.metricDict = vectorFromArray([...header.metrics], new Utf8());
    this.step = new Int32Array(this.cap);
    this.epoch = new Int16Array(this.cap);
    this.layer = new Int8Array(this.cap);
    this.probe = new Int8Array(this.cap);
    this.metric = new Int16Array(this.cap);
    this.value = new Float32Array(this.cap);
  }

  /**
   * Writes the first checkpoint, so even a run that dies at once leaves a readable, empty trace,
   * and publishes it at `path` unless that holds a file to be replaced (refused unless `force`).
   * A stale `<path>.partial` is overwritten: callers hold the run's lock (run-lock.ts).
   */
  static create(path: string, header: TraceHeader, progress: RunProgress, opts: CreateOptions = {}): TraceWriter {
    const replacing = existsSync(path);
    if (replacing && !opts.force) throw new ProbeError(ErrorCode.exists, msg.traceExists(path));
    const partial = path + PARTIAL_SUFFIX;
    let fd: number;
    try {
      fd = openSync(partial, 'w');
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code;
      throw new ProbeError(ErrorCode.io, msg.outDirNotWritable(dirname(path), code ?? String(cause)), { cause });
    }
    const w = new TraceWriter(path, fd, header, { ...opts, replacing });
    try {
      w.checkpoint(progress);
      if (!replacing) w.publish();
    } catch (e) {
      w.abandon();
      throw e;
    }
    return w;
  }

  /** Where the trace is now: `path`, or `<path>.partial` while it waits to replace an older file. */
  get file(): string {
    return this.current;
  }

  /** Gives the partial file its own name, without ever replacing a file that appeared meanwhile. */
  private publish(): void {
    try {
      linkSync(this.current, this.path);
      unlinkSync(this.current);
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw new ProbeError(ErrorCode.exists, msg.traceExists(this.path), { cause });
      // file systems without hard links: the run's lock already keeps other writers away
      renameSync(this.current, this.path);
    }
    this.current = this.path;
    this.replacing = false;
  }

  /**
   * Puts this trace in place of the older file at `path` now rather than when it closes finished:
   * a resumed run's first checkpoint already holds everything the older (unfinished) file held.
   */
  replaceNow(): void {
    if (!this.replacing || this.fd === null) return;
    renameSync(this.current, this.path);
    this.current = this.path;
    this.replacing = false;
  }

  /** Closes and deletes a trace that never got its own name. */
  private abandon(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    if (this.current !== this.path) try { unlinkSync(this.current); } catch { /* gone */ }
  }

  get rows(): number {
    return this.rowsWritten + this.n;
  }

  probeId(name: string): number {
    const i = this.probeIndex.get(name);
    if (i === undefined) throw new ProbeError(ErrorCode.trace, msg.writerSchema(msg.notInDictionary('probe', name)));
    return i;
  }

  metricId(name: string): number {
    const i = this.metricIndex.get(name);
    if (i === undefined) throw new ProbeError(ErrorCode.trace, msg.writerSchema(msg.notInDictionary('metric', name)));
    return i;
  }

  /** Appends one row; `probe` and `metric` are dictionary ids from {@link probeId}/{@link metricId}. */
  append(step: number, epoch: number, layer: number, probe: number, metric: number, value: number): void {
    if (this.fd === null) throw new ProbeError(ErrorCode.trace, msg.writerClosed());
    const i = this.n;
    this.step[i] = step;
    this.epoch[i] = epoch;
    this.layer[i] = layer;
    this.probe[i] = probe;
    this.metric[i] = metric;
    this.value[i] = value;
    if (++this.n === this.cap) this.encodeBatch();
  }

  /** Appends one row per value: `layers[k]`, `probes[k]`, `metrics[k]` describe `values[offset + k]`. */
  appendMany(step: number, epoch: number, layout: { readonly layers: Int8Array; readonly probes: Int8Array; readonly metrics: Int16Array }, values: Float32Array, offset = 0): void {
    for (let k = 0; k < layout.layers.length; k++) {
      this.append(step, epoch, layout.layers[k], layout.probes[k], layout.metrics[k], values[offset + k]);
    }
  }

  private encodeBatch(): void {
    if (this.n === 0) return;
    this.encoder.write(this.batch(this.n));
    this.rowsWritten += this.n;
    this.n = 0;
  }

  /** The first `n` buffered rows as a record batch sharing the file's fixed dictionaries. */
  private batch(n: number): RecordBatch {
    const f = this.schema.fields;
    const dict = (i: number, indices: Int8Array | Int16Array, dictionary: Vector<Utf8>) =>
      makeData({ type: f[i].type as Dictionary<Utf8>, length: n, nullCount: 0, data: indices, dictionary });
    const children = [
      dict(0, new Int8Array(n), this.runDict),
      makeVector(this.step.slice(0, n)).data[0],
      makeVector(this.epoch.slice(0, n)).data[0],
      makeVector(this.layer.slice(0, n)).data[0],
      dict(4, this.probe.slice(0, n), this.probeDict),
      dict(5, this.metric.slice(0, n), this.metricDict),
      makeVector(this.value.slice(0, n)).data[0],
    ];
    return new RecordBatch(this.schema, makeData({ type: new Struct(f), length: n, nullCount: 0, children }));
  }

  /** Makes everything appended so far durable, with `progress` in the footer's metadata. */
  checkpoint(progress: RunProgress): void {
    if (this.fd === null) throw new ProbeError(ErrorCode.trace, msg.writerClosed());
    if (this.failure) throw this.failure;
    this.encodeBatch();
    // no rows yet: an empty batch starts the file (magic, schema message, dictionaries)
    if (this.encoder.position === 0) this.encoder.write(this.batch(0));
    const meta = new Map(this.baseMeta);
    meta.set(MetaKey.progress, JSON.stringify(progress));
    const footer = this.encoder.footer(new Schema(this.schema.fields, meta));
    const chunks = [...this.encoder.take(), footer];
    const total = chunks.reduce((s, c) => s + c.byteLength, 0);
    const buf = new Uint8Array(total);
    let o = 0;
    for (const c of chunks) { buf.set(c, o); o += c.byteLength; }
    const start = this.written, oldEnd = this.end, newEnd = start + total, magicAt = newEnd - MAGIC.length;
    try {
      // 1. beyond the old end first, without the closing magic: only this needs new space, and
      //    failing here leaves the old checkpoint untouched
      if (newEnd > oldEnd) {
        const tail = buf.slice(oldEnd - start);
        tail.fill(0, Math.max(0, magicAt - oldEnd));
        writeAll(this.fd, tail, 0, tail.length, oldEnd);
        fdatasyncSync(this.fd);
      }
      // 2. in place, needing no new space: unmark the old end, write the rest, and close the file
      //    with its magic last. Until then the file ends without magic, so a reader that finds it
      //    so (killed in between) recovers the batches in order instead of trusting a footer
      //    whose batches are not all written yet.
      if (oldEnd > 0) writeAll(this.fd, new Uint8Array(MAGIC.length), 0, MAGIC.length, oldEnd - MAGIC.length);
      writeAll(this.fd, buf, 0, Math.min(oldEnd, magicAt) - start, start);
      if (newEnd < oldEnd) ftruncateSync(this.fd, newEnd);
      writeAll(this.fd, MAGIC, 0, MAGIC.length, magicAt);
      fdatasyncSync(this.fd);
    } catch (cause) {
      try { ftruncateSync(this.fd, oldEnd); fdatasyncSync(this.fd); } catch { /* nothing more to do */ }
      const code = (cause as NodeJS.ErrnoException).code ?? String(cause);
      // what is left says what to do: no file (the first checkpoint goes under .partial, removed),
      // the last checkpoint at `path` (a rerun must replace it), or an older trace beside a .partial
      const left = oldEnd === 0 ? (this.replacing ? 'old' : 'none') : this.replacing ? 'partial' : 'kept';
      this.failure = new ProbeError(ErrorCode.io, msg.traceWriteFailed(this.path, code, left, this.resumable), { cause });
      throw this.failure;
    }
    this.written = this.encoder.position;
    this.end = newEnd;
  }

  /**
   * Final checkpoint, then the file is closed; further writes throw. A trace that closes finished
   * replaces the older file at `path`, if any. After a failed write only the file is closed.
   */
  close(progress: RunProgress): void {
    if (this.fd === null) return;
    try {
      if (!this.failure) this.checkpoint(progress);
    } finally {
      closeSync(this.fd);
      this.fd = null;
    }
    if (this.replacing && isFinished(progress.status)) {
      renameSync(this.current, this.path);
      this.current = this.path;
      this.replacing = false;
    }
  }
}
