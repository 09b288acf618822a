/**
 * `probe export`: traces in, one tidy table out (Parquet or CSV), for DuckDB, Polars and pandas.
 *
 * Traces keep run-level facts in their schema metadata, which most tools do not show and which
 * differs per file. The export joins them in as columns, so every row says which combination,
 * seed, variant, dataset and activation it belongs to:
 *
 *   run combo seed variant dataset bn backend status lr momentum batch epochs train_limit test_limit
 *   engine config_hash hidden every optimizer act_1..act_L | step epoch layer activation probe metric value
 *
 * The settings (read/settings.ts) are null where a trace does not know them (an attached model's
 * loop may not say its learning rate): grouping by them never merges runs of other settings.
 *
 * One trace at a time is read, widened and handed on (memory holds one trace, not the sweep).
 * Parquet is written by parquet-wasm (the Rust `parquet` crate compiled to WebAssembly) from Arrow
 * IPC record batches; CSV by hand (plain text, RFC 4180 quoting). Both go to a temporary name
 * first: a failure leaves no half-written file and never replaces an existing one.
 */
import { closeSync, existsSync, openSync, rmSync, renameSync, writeSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { Dictionary, Float64, Int32, makeData, makeVector, Table, tableToIPC, Utf8, vectorFromArray, type Vector } from 'apache-arrow';
import { ProbeError, ErrorCode, isProbeError } from '../errors.js';
import { ensureWritableDir, errnoCode } from '../fs-util.js';
import { msg } from '../messages.js';
import { datasetOf, variantOf } from '../read/digest.js';
import { collectTraces } from '../read/folder.js';
import { checkOptions, optionKeys } from '../options.js';
import { NUMERIC_SETTINGS, runSettings, Setting, SETTINGS, type SettingValues } from '../read/settings.js';
import { readTrace, readTraceMeta, type Trace, type TraceMeta } from '../trace/reader.js';
import { Column, ExportColumn } from '../trace/schema.js';

export const ExportFormat = { parquet: 'parquet', csv: 'csv' } as const;
export type ExportFormat = (typeof ExportFormat)[keyof typeof ExportFormat];
export interface ExportOptions {
  readonly format: ExportFormat;
  /** replace an existing file */
  readonly force?: boolean;
  readonly onProgress?: (text: string) => void;
  readonly onWarning?: (text: string) => void;
}

export interface ExportResult {
  readonly file: string;
  readonly runs: number;
  readonly rows: number;
  readonly bytes: number;
}

/** Run-level facts repeated on each of a run's rows. */
interface RunFields {
  readonly run: string;
  readonly combo: string;
  readonly seed: number;
  readonly variant: string;
  /** null for an attached model whose caller did not name its data */
  readonly dataset: string | null;
  readonly bn: string;
  readonly backend: string;
  readonly status: string;
  /** the settings not among the columns above (read/settings.ts) */
  readonly settings: SettingValues;
  /** activation of layer 1..L */
  readonly acts: readonly string[];
}

/** Settings written as their own columns (dataset, bn and backend are above, as the report names them). */
const SETTING_COLUMNS: readonly Setting[] = SETTINGS.filter((k) => k !== Setting.dataset && k !== Setting.bn && k !== Setting.backend);
/** Whole-number settings are Int32 columns; lr and momentum Float64. */
const INT_SETTINGS: ReadonlySet<Setting> = new Set([Setting.batch, Setting.epochs, Setting.trainLimit, Setting.testLimit, Setting.every]);

function runFields(t: Trace, run: string): RunFields {
  const c = t.config;
  return {
    run,
    combo: t.facts.combo,
    seed: t.facts.seed,
    variant: variantOf({ dataset: datasetOf(t), bn: c.bn, intervention: c.intervention }),
    dataset: runSettings(c, t.facts).dataset as string | null,
    bn: c.bn,
    backend: t.facts.backend,
    // a diverged run is finished but not complete
    status: t.truncated ? 'truncated' : t.status,
    settings: runSettings(c, t.facts),
    acts: t.facts.layers.map((l) => l.activation),
  };
}

/**
 * Writes the traces named by `inputs` (files, folders, a sweep index) into one table at `file`.
 *
 * @example
 * ```ts
 * await exportTraces(['runs/'], 'runs.parquet', { format: 'parquet' });
 * // duckdb: select combo, avg(value) from 'runs.parquet' where metric = 'dead_rows' group by combo
 * ```
 */
const EXPORT_OPTION_KEYS = optionKeys<ExportOptions>({ format: 1, force: 1, onProgress: 1, onWarning: 1 });

export async function exportTraces(inputs: readonly string[], file: string, opts: ExportOptions): Promise<ExportResult> {
  checkOptions('exportTraces', opts, EXPORT_OPTION_KEYS);
  if (file === '') throw new ProbeError(ErrorCode.usage, msg.emptyPath(`--${opts.format}`, 'file'));
  const paths = collectTraces(inputs, opts.onWarning);
  const existed = existsSync(file);
  if (existed && !opts.force) throw new ProbeError(ErrorCode.exists, msg.fileExists(file));
  ensureWritableDir(dirname(file) || '.');
  // the widest network decides how many act_k columns there are
  const metas = paths.map(readMetaOrNull);
  const layers = Math.max(...metas.map((m) => m?.facts.layers.length ?? 0));
  const runOf = runColumn(paths, metas, opts.onWarning);
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  let sink: Sink | null = null;
  let runs = 0, rows = 0;
  try {
    sink = opts.format === ExportFormat.parquet ? await parquetSink(tmp) : csvSink(tmp, layers);
    for (const [i, p] of paths.entries()) {
      opts.onProgress?.(`exporting ${i + 1}/${paths.length} ${basename(p)}`);
      const t = readTrace(p);
      if (t.columns.length === 0) continue;
      await sink.add(t, runFields(t, runOf(p, t.run)), layers);
      runs++;
      rows += t.columns.length;
    }
    if (runs === 0) throw new ProbeError(ErrorCode.trace, msg.noTraces(inputs));
    const bytes = await sink.close();
    renameSync(tmp, file);
    return { file, runs, rows, bytes };
  } catch (e) {
    await sink?.abort();
    rmSync(tmp, { force: true });
    // a full disk, a quota, an I/O error: one line, and nothing half-written or replaced
    const code = errnoCode(e);
    if (code && !isProbeError(e)) throw new ProbeError(ErrorCode.io, msg.writeFailed(file, code, existed ? `${file} is as it was` : 'no file was left'), { cause: e });
    throw e;
  }
}

/** A run's footer alone; null if unreadable (reading it in full then says why). */
function readMetaOrNull(path: string): TraceMeta | null {
  try {
    return readTraceMeta(path);
  } catch {
    return null;
  }
}

/**
 * The `run` column of each trace: its run name, unless another exported trace has the same one
 * (the same combination and seed from folders of other settings): then the trace's path without
 * `.arrow`, so that (run, step, layer, probe, metric) stays a key — and a warning says so.
 */
function runColumn(paths: readonly string[], metas: readonly (TraceMeta | null)[], warn?: (w: string) => void): (path: string, run: string) => string {
  const byName = new Map<string, string[]>();
  metas.forEach((m, i) => { if (m) byName.set(m.run, [...(byName.get(m.run) ?? []), paths[i]]); });
  const shared = [...byName.entries()].filter(([, ps]) => ps.length > 1);
  const qualified = (p: string) => relative(process.cwd(), resolve(p)).replace(/\.arrow$/, '');
  if (shared.length) warn?.(msg.exportSharedRuns(shared.length, shared[0][0], shared[0][1].map(qualified)));
  const clash = new Set(shared.map(([name]) => name));
  return (path, run) => (clash.has(run) ? qualified(path) : run);
}

interface Sink {
  add(t: Trace, f: RunFields, layers: number): Promise<void>;
  /** finishes the file; returns its size in bytes */
  close(): Promise<number>;
  abort(): Promise<void>;
}

// ---- Arrow: one record batch per trace, the same schema for all ----

/** A string column as a dictionary: `keys` index into `values`, -1 for null. */
function dictColumn(keys: Int32Array, values: readonly string[]): Vector {
  let nulls = 0;
  for (const k of keys) if (k < 0) nulls++;
  let nullBitmap: Uint8Array | undefined;
  if (nulls > 0) {
    nullBitmap = new Uint8Array((keys.length + 7) >> 3);
    keys.forEach((k, i) => { if (k >= 0) nullBitmap![i >> 3] |= 1 << (i & 7); });
  }
  const type = new Dictionary(new Utf8(), new Int32());
  const dictionary = vectorFromArray([...values], new Utf8());
  return makeVector(makeData({ type, length: keys.length, nullCount: nulls, nullBitmap, data: keys.map((k) => Math.max(k, 0)), dictionary }));
}

const constant = (n: number, value: string | null) => dictColumn(new Int32Array(n).fill(value === null ? -1 : 0), value === null ? [] : [value]);

/** A number repeated on every row (Int32 or Float64), or a column of nulls. */
function constantNumber(n: number, value: number | null, int: boolean): Vector {
  const type = int ? new Int32() : new Float64();
  const data = int ? new Int32Array(n).fill(value ?? 0) : new Float64Array(n).fill(value ?? 0);
  return makeVector(makeData({ type, length: n, nullCount: value === null ? n : 0, nullBitmap: value === null ? new Uint8Array((n + 7) >> 3) : undefined, data } as never));
}

/** The setting columns of a run, in {@link SETTING_COLUMNS}' order. */
function settingColumns(n: number, s: SettingValues): Record<string, Vector> {
  return Object.fromEntries(SETTING_COLUMNS.map((k) => {
    const v = s[k];
    return [k, NUMERIC_SETTINGS.has(k) ? constantNumber(n, typeof v === 'number' ? v : null, INT_SETTINGS.has(k)) : constant(n, v === null ? null : String(v))];
  }));
}

/** The trace widened with its run's fields, as an Arrow table. */
export function tidyTable(t: Trace, f: RunFields, layers: number): Table {
  const c = t.columns, n = c.length;
  // activation of the row's layer: null on layer 0 (the network) and on layers past this net's end
  const activation = Int32Array.from(c.layer, (l) => (l >= 1 && l <= f.acts.length ? l - 1 : -1));
  const acts = Object.fromEntries(Array.from({ length: layers }, (_, k) => [ExportColumn.act(k + 1), constant(n, f.acts[k] ?? null)]));
  return new Table({
    [ExportColumn.run]: constant(n, f.run),
    [ExportColumn.combo]: constant(n, f.combo),
    [ExportColumn.seed]: makeVector(new Int32Array(n).fill(f.seed)),
    [ExportColumn.variant]: constant(n, f.variant),
    [ExportColumn.dataset]: constant(n, f.dataset),
    [ExportColumn.bn]: constant(n, f.bn),
    [ExportColumn.backend]: constant(n, f.backend),
    [ExportColumn.status]: constant(n, f.status),
    ...settingColumns(n, f.settings),
    ...acts,
    [Column.step]: makeVector(c.step),
    [Column.epoch]: makeVector(c.epoch),
    [Column.layer]: makeVector(c.layer),
    [ExportColumn.activation]: dictColumn(activation, f.acts),
    [Column.probe]: dictColumn(Int32Array.from(c.probe), c.probes),
    [Column.metric]: dictColumn(Int32Array.from(c.metric), c.metrics),
    [Column.value]: makeVector(c.value),
  });
}

// ---- Parquet ----

async function parquetSink(path: string): Promise<Sink> {
  const pq = (await import('parquet-wasm')).default;
  let controller!: ReadableStreamDefaultController<unknown>;
  const input = new ReadableStream({ start: (c) => { controller = c; } });
  const props = new pq.WriterPropertiesBuilder().setCompression(pq.Compression.ZSTD).setCreatedBy('probe export').build();
  // resolves once the first batch has given the schema: not awaited before batches are fed
  const output = pq.transformParquetStream(input, props);
  const fd = openSync(path, 'w');
  let bytes = 0;
  // drain the serialised Parquet as it comes, so memory holds about one trace
  const drained = (async () => {
    const reader = (await output).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      writeSync(fd, value as Uint8Array);
      bytes += (value as Uint8Array).length;
    }
  })();
  drained.catch(() => undefined); // reported by close()
  return {
    async add(t, f, layers) {
      const table = pq.Table.fromIPCStream(tableToIPC(tidyTable(t, f, layers), 'stream'));
      for (const b of table.recordBatches()) controller.enqueue(b);
    },
    async close() {
      controller.close();
      try { await drained; } finally { closeSync(fd); }
      return bytes;
    },
    async abort() {
      try { controller.error(new Error('export aborted')); } catch { /* already closed */ }
      await drained.catch(() => undefined);
      try { closeSync(fd); } catch { /* closed */ }
    },
  };
}

// ---- CSV ----

const csvCell = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
/**
 * Shortest decimal that reads back as the same float32 (9 significant digits always do). An
 * infinity is written as a number that overflows to it (±1e999): the words for it differ between
 * readers, and a column starting with `inf` is text to DuckDB's CSV sniffer (and to some Polars
 * versions); `NaN` is read as a number by pandas, Polars, DuckDB and pyarrow alike.
 */
export const csvFloat = (v: number): string => (Number.isFinite(v) ? String(Number(v.toPrecision(9))) : Number.isNaN(v) ? 'NaN' : v > 0 ? '1e999' : '-1e999');

function csvSink(path: string, layers: number): Sink {
  const fd = openSync(path, 'w');
  let bytes = 0;
  const write = (s: string) => { bytes += writeSync(fd, s); };
  const acts = Array.from({ length: layers }, (_, k) => ExportColumn.act(k + 1));
  write([ExportColumn.run, ExportColumn.combo, ExportColumn.seed, ExportColumn.variant, ExportColumn.dataset, ExportColumn.bn, ExportColumn.backend, ExportColumn.status, ...SETTING_COLUMNS, ...acts, Column.step, Column.epoch, Column.layer, ExportColumn.activation, Column.probe, Column.metric, Column.value].join(',') + '\n');
  return {
    async add(t, f) {
      const c = t.columns;
      // a setting a trace does not know is an empty cell (null in pandas, Polars and DuckDB)
      const settings = SETTING_COLUMNS.map((k) => { const v = f.settings[k]; return v === null ? '' : String(v); });
      const head = [f.run, f.combo, String(f.seed), f.variant, f.dataset ?? '', f.bn, f.backend, f.status, ...settings, ...acts.map((_, k) => f.acts[k] ?? '')].map(csvCell).join(',');
      const probes = c.probes.map(csvCell), metrics = c.metrics.map(csvCell), layerActs = f.acts.map(csvCell);
      let chunk = '';
      for (let i = 0; i < c.length; i++) {
        const l = c.layer[i];
        chunk += `${head},${c.step[i]},${c.epoch[i]},${l},${l >= 1 ? layerActs[l - 1] ?? '' : ''},${probes[c.probe[i]]},${metrics[c.metric[i]]},${csvFloat(c.value[i])}\n`;
        if (chunk.length > 1 << 20) { write(chunk); chunk = ''; }
      }
      write(chunk);
    },
    async close() { closeSync(fd); return bytes; },
    async abort() { try { closeSync(fd); } catch { /* closed */ } },
  };
}
