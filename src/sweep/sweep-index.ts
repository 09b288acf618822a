/**
 * The sweep index: one row per run found in a sweep folder (complete or not), written next to the
 * traces as `_index.feather`, from the traces' footers alone. `probe report` and `probe compare`
 * read it to find a sweep's traces.
 *
 * Its name keeps it out of the traces' glob: `runs/*.arrow` (Polars, DuckDB, shell) matches only
 * traces, and pyarrow.dataset skips names that start with `_`, so a sweep folder reads as one
 * table. Feather v2 is the Arrow IPC file format itself (`pandas.read_feather`, `pl.read_ipc`).
 * Folders written before keep their `index.arrow`: it is still recognised, and replaced when the
 * index is rebuilt.
 */
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { ProbeError, ErrorCode } from '../errors.js';
import { msg } from '../messages.js';
import { writeAtomic } from '../fs-util.js';
import { basename, dirname, join } from 'node:path';
import { Dictionary, Float64, Int32, makeVector, tableFromIPC, tableToIPC, Table, vectorFromArray, Utf8 } from 'apache-arrow';
import { readTraceMeta, type TraceMeta } from '../trace/reader.js';

export const INDEX_FILE = '_index.feather';
/** The index's name before it left the traces' glob. */
export const LEGACY_INDEX_FILE = 'index.arrow';
export const INDEX_VERSION_KEY = 'probe.index_version';
export const INDEX_VERSION = '1';

export interface IndexRow {
  readonly run: string;
  readonly file: string;
  readonly combo: string;
  readonly seed: number;
  readonly configHash: string;
  readonly status: string;
  readonly epochsDone: number;
  readonly epochsPlanned: number;
  readonly testAcc: number | null;
  readonly testLoss: number | null;
  /** output layer dead_rows over the last finished epoch (H1 measure) */
  readonly outDeadRows: number | null;
  /** sat_frac of the layer before the output over the last finished epoch (H2 measure) */
  readonly satBeforeOut: number | null;
  readonly backend: string;
  readonly seconds: number;
}

export function indexRow(m: TraceMeta): IndexRow {
  const L = m.facts.layers.length;
  const f = m.progress?.final;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  return {
    run: m.run,
    file: basename(m.path),
    combo: m.facts.combo,
    seed: m.facts.seed,
    configHash: String(m.config.configHash ?? ''),
    status: m.status,
    epochsDone: m.progress?.epochsDone ?? 0,
    epochsPlanned: typeof m.config.epochs === 'number' ? m.config.epochs : 0,
    testAcc: num(f?.testAcc),
    testLoss: num(f?.testLoss),
    outDeadRows: num(f?.means[`${L}/dead-relu/dead_rows`]),
    satBeforeOut: num(f?.means[`${L - 1}/saturation/sat_frac`]),
    backend: m.facts.backend,
    seconds: (m.progress?.epochSeconds ?? []).reduce((s, x) => s + x, 0),
  };
}

/** Whether a file name is a sweep index's (the current or the legacy name). */
export function isIndexName(name: string): boolean {
  return name === INDEX_FILE || name === LEGACY_INDEX_FILE;
}

/** Trace files in a folder: every `*.arrow` but a legacy index. */
export function traceFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.arrow') && !isIndexName(f)).sort().map((f) => join(dir, f));
}

/** Rebuilds the index of `dir` from its traces' footers; unreadable files are listed as such. */
export function writeIndex(dir: string): IndexRow[] {
  const rows: IndexRow[] = [];
  for (const p of traceFiles(dir)) {
    try {
      rows.push(indexRow(readTraceMeta(p)));
    } catch {
      rows.push({ run: basename(p, '.arrow'), file: basename(p), combo: '', seed: -1, configHash: '', status: 'unreadable', epochsDone: 0, epochsPlanned: 0, testAcc: null, testLoss: null, outDeadRows: null, satBeforeOut: null, backend: '', seconds: 0 });
    }
  }
  const col = <K extends keyof IndexRow>(k: K) => rows.map((r) => r[k]);
  // `run` dictionary-encoded like the traces' column, so index and traces join without a cast
  // (Polars reads both as Categorical); Int32 keys: a sweep may list more runs than Int8 holds
  const run = vectorFromArray(col('run'), new Dictionary(new Utf8(), new Int32()));
  const str = (k: 'file' | 'combo' | 'configHash' | 'status' | 'backend') => vectorFromArray(col(k), new Utf8());
  const int = (k: 'seed' | 'epochsDone' | 'epochsPlanned') => makeVector(Int32Array.from(col(k)));
  const f64 = (k: 'testAcc' | 'testLoss' | 'outDeadRows' | 'satBeforeOut' | 'seconds') => vectorFromArray(col(k), new Float64());
  const table = new Table({
    run, file: str('file'), combo: str('combo'), seed: int('seed'), config_hash: str('configHash'),
    status: str('status'), epochs_done: int('epochsDone'), epochs_planned: int('epochsPlanned'),
    test_acc: f64('testAcc'), test_loss: f64('testLoss'), out_dead_rows: f64('outDeadRows'), sat_before_out: f64('satBeforeOut'),
    backend: str('backend'), seconds: f64('seconds'),
  });
  table.schema.metadata.set(INDEX_VERSION_KEY, INDEX_VERSION);
  // a name of its own per process and host: shards on several nodes may write the index at once
  writeAtomic(join(dir, INDEX_FILE), tableToIPC(table, 'file'), join(dir, `.${INDEX_FILE}.${hostname()}.${process.pid}.tmp`));
  // the legacy index would otherwise stay in the traces' glob, stale
  const legacy = join(dir, LEGACY_INDEX_FILE);
  if (indexedTraces(legacy) !== null) rmSync(legacy, { force: true });
  return rows;
}

/** The trace paths an index lists, or null when `path` is not a sweep index. */
export function indexedTraces(path: string): string[] | null {
  let t: Table;
  try {
    t = tableFromIPC(readFileSync(path));
  } catch { // missing, or not Arrow
    return null;
  }
  if (t.schema.metadata.get(INDEX_VERSION_KEY) === undefined) return null;
  const files = t.getChild('file')?.toArray() as string[] | undefined;
  return (files ?? []).map((f) => join(dirname(path), f));
}

/**
 * Trace paths named by the inputs: files as given (a sweep index stands for the traces it lists),
 * folders scanned for `*.arrow` (not recursively; a legacy index is not a trace).
 */
export function collectTraces(inputs: readonly string[]): string[] {
  const out: string[] = [];
  for (const i of inputs) {
    let st;
    try { st = statSync(i); } catch (cause) { throw new ProbeError(ErrorCode.trace, msg.traceMissing(i), { cause }); }
    if (st.isDirectory()) out.push(...traceFiles(i));
    else out.push(...(isIndexName(basename(i)) ? indexedTraces(i) ?? [i] : [i]));
  }
  if (out.length === 0) throw new ProbeError(ErrorCode.trace, msg.noTraces(inputs));
  return [...new Set(out)];
}
