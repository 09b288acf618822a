/**
 * Reads a trace into flat typed columns. A file whose footer is intact is read through it; a file
 * whose tail was damaged (the writer died mid-checkpoint) is read message by message from the
 * start, keeping every complete batch, and reported as recovered.
 */
import { readStoredConfig, type StoredConfig } from './stored-config.js';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { RecordBatchFileReader, RecordBatchStreamReader, type RecordBatch, type Schema } from 'apache-arrow';
import { Footer } from 'apache-arrow/ipc/metadata/file';
import { ProbeError, ErrorCode } from '../errors.js';
import { msg } from '../messages.js';
import { fileKind } from '../fs-util.js';
// the codec compressed traces need (codec.ts registers it on import)
import './codec.js';
import { ARROW_MAGIC, Column, isFinished, MetaKey, RunStatus, TRACE_VERSION, traceSchema, type RunFacts, type RunProgress } from './schema.js';

export interface TraceColumns {
  readonly length: number;
  readonly step: Int32Array;
  readonly epoch: Int16Array;
  readonly layer: Int8Array;
  /** dictionary codes into {@link probes} / {@link metrics} */
  readonly probe: Int8Array;
  readonly metric: Int16Array;
  readonly value: Float32Array;
  readonly probes: readonly string[];
  readonly metrics: readonly string[];
}

/** What a trace says about its run, without its rows. */
export interface TraceMeta {
  readonly path: string;
  readonly run: string;
  /** the stored settings, typed and checked once (see stored-config.ts) */
  readonly config: StoredConfig;
  readonly facts: RunFacts;
  /** null when the footer was lost and the file was recovered */
  readonly progress: RunProgress | null;
  readonly status: RunStatus;
  /** anything but a run that finished normally */
  readonly truncated: boolean;
  /** the footer was damaged; batches were read in order from the start */
  readonly recovered: boolean;
  readonly bytes: number;
}

export interface Trace extends TraceMeta {
  readonly columns: TraceColumns;
}

const MAGIC = ARROW_MAGIC;

function hasMagic(buf: Uint8Array, at: number): boolean {
  for (let i = 0; i < MAGIC.length; i++) if (buf[at + i] !== MAGIC.charCodeAt(i)) return false;
  return true;
}

/**
 * Opens a trace for reading: a regular file, opened without blocking (a FIFO named .arrow would
 * wait forever for a writer). A folder, a device or a FIFO is named as what it is, not as missing.
 */
function openTrace(path: string): { fd: number; size: number } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new ProbeError(ErrorCode.trace, code === 'ENOENT' || code === 'ENOTDIR' ? msg.traceMissing(path) : msg.traceUnreadable(path, code ?? String(cause)), { cause });
  }
  const st = fstatSync(fd);
  if (st.isFile()) return { fd, size: st.size };
  closeSync(fd);
  throw new ProbeError(ErrorCode.trace, st.isDirectory() ? msg.traceIsFolder(path) : msg.notATrace(path, msg.traceWhy.notFile(fileKind(st))));
}

const notArrow = (path: string) => new ProbeError(ErrorCode.trace, msg.notATrace(path, msg.traceWhy.noMagic()));

/**
 * Reads only a trace's footer (two small reads): status, config and facts of a run without its
 * rows. Falls back to a full read when the footer is damaged.
 */
export function readTraceMeta(path: string): TraceMeta {
  const { fd, size } = openTrace(path);
  try {
    const head = Buffer.alloc(8), tail = Buffer.alloc(10);
    if (size < 18 || readSync(fd, head, 0, 8, 0) < 8 || !hasMagic(head, 0)) throw notArrow(path);
    readSync(fd, tail, 0, 10, size - 10);
    const len = tail.readInt32LE(0);
    if (hasMagic(tail, 4) && len > 0 && len < size - 18) {
      const footer = Buffer.alloc(len);
      readSync(fd, footer, 0, len, size - 10 - len);
      let schema: Schema | null = null;
      try { schema = Footer.decode(footer).schema; } catch { /* damaged: full read below */ }
      if (schema) return meta(path, schema, false, size);
    }
  } finally {
    closeSync(fd);
  }
  const { columns: _c, ...rest } = readTrace(path);
  void _c;
  return rest;
}

export function readTrace(path: string): Trace {
  const { fd, size } = openTrace(path);
  let buf: Uint8Array = Buffer.alloc(size);
  try {
    // a trace being checkpointed may change size meanwhile: what was there when opened is read
    let at = 0;
    for (let n = 1; at < size && n > 0; at += n) n = readSync(fd, buf, at, size - at, at);
    buf = buf.subarray(0, at);
  } finally {
    closeSync(fd);
  }
  if (buf.length < 8 || !hasMagic(buf, 0)) throw notArrow(path);
  let schema: Schema;
  let batches: RecordBatch[];
  let recovered = false;
  try {
    if (!hasMagic(buf, buf.length - MAGIC.length)) throw new Error('no footer');
    const reader = RecordBatchFileReader.from(buf);
    reader.open();
    schema = reader.schema; // before iterating: the reader resets itself when done
    batches = [...reader];
  } catch {
    recovered = true;
    ({ schema, batches } = recoverBatches(path, buf.subarray(8)));
  }
  return { ...meta(path, schema, recovered, buf.length), columns: flatten(batches) };
}

function meta(path: string, schema: Schema, recovered: boolean, bytes: number): TraceMeta {
  checkSchema(path, schema);
  const parse = <T>(key: string): T | null => {
    const s = schema.metadata.get(key);
    if (s === undefined) return null;
    try {
      return JSON.parse(s) as T;
    } catch (cause) {
      throw new ProbeError(ErrorCode.trace, msg.notATrace(path, msg.traceWhy.badJson(key, (cause as Error).message)), { cause });
    }
  };
  const progress = recovered ? null : parse<RunProgress>(MetaKey.progress);
  const facts = parse<RunFacts>(MetaKey.facts);
  if (!facts) throw new ProbeError(ErrorCode.trace, msg.notATrace(path, msg.traceWhy.noMeta(MetaKey.facts)));
  const status = progress?.status ?? RunStatus.running;
  return {
    path,
    run: facts.run,
    config: readStoredConfig(parse<unknown>(MetaKey.config)),
    facts,
    progress,
    status,
    truncated: !isFinished(status),
    recovered,
    bytes,
  };
}

/** Reads complete messages in order until the first damaged one. */
function recoverBatches(path: string, stream: Uint8Array): { schema: Schema; batches: RecordBatch[] } {
  const batches: RecordBatch[] = [];
  let reader: RecordBatchStreamReader;
  try {
    reader = RecordBatchStreamReader.from(stream);
    reader.open();
  } catch (cause) {
    throw new ProbeError(ErrorCode.trace, msg.notATrace(path, msg.traceWhy.footerUnreadable()), { cause });
  }
  const schema = reader.schema;
  if (!schema) throw new ProbeError(ErrorCode.trace, msg.notATrace(path, msg.traceWhy.footerNoSchema()));
  try {
    for (const b of reader) batches.push(b);
  } catch {
    // the damaged tail: keep what came before it
  }
  return { schema, batches };
}

function checkSchema(path: string, schema: Schema): void {
  const version = schema.metadata.get(MetaKey.version);
  if (version === undefined) throw new ProbeError(ErrorCode.trace, msg.notATrace(path, `no '${MetaKey.version}' in its schema metadata`));
  if (version !== TRACE_VERSION) throw new ProbeError(ErrorCode.traceVersion, msg.traceVersion(path, version, TRACE_VERSION));
  const want = traceSchema().fields;
  const got = schema.fields;
  const sig = (f: { name: string; type: { toString(): string } }) => `${f.name}:${f.type.toString()}`;
  if (got.length !== want.length || got.some((f, i) => sig(f) !== sig(want[i]))) {
    throw new ProbeError(ErrorCode.trace, msg.notATrace(path, msg.traceWhy.columns(got.map(sig).join(', '), want.map(sig).join(', '))));
  }
}

function flatten(batches: readonly RecordBatch[]): TraceColumns {
  const length = batches.reduce((s, b) => s + b.numRows, 0);
  const step = new Int32Array(length), epoch = new Int16Array(length), layer = new Int8Array(length);
  const probe = new Int8Array(length), metric = new Int16Array(length), value = new Float32Array(length);
  let probes: string[] = [], metrics: string[] = [];
  let o = 0;
  for (const b of batches) {
    if (b.numRows === 0) continue;
    const col = (name: string) => b.getChild(name)!.data[0];
    const values = <T extends Int8Array | Int16Array | Int32Array | Float32Array>(name: string): T => {
      const d = col(name);
      return (d.values as T).subarray(d.offset, d.offset + d.length) as T;
    };
    step.set(values<Int32Array>(Column.step), o);
    epoch.set(values<Int16Array>(Column.epoch), o);
    layer.set(values<Int8Array>(Column.layer), o);
    probe.set(values<Int8Array>(Column.probe), o);
    metric.set(values<Int16Array>(Column.metric), o);
    value.set(values<Float32Array>(Column.value), o);
    probes = col(Column.probe).dictionary!.toArray() as string[];
    metrics = col(Column.metric).dictionary!.toArray() as string[];
    o += b.numRows;
  }
  return { length, step, epoch, layer, probe, metric, value, probes, metrics };
}
