/**
 * The sweep index: one row per run found in a sweep folder (complete or not), written next to the
 * traces as `index.arrow`, from the traces' footers alone. `probe report` and `probe compare`
 * read it to find a sweep's traces.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { writeAtomic } from '../fs-util.js';
import { basename, dirname, join } from 'node:path';
import { Float64, makeVector, tableFromIPC, tableToIPC, Table, vectorFromArray, Utf8 } from 'apache-arrow';
import { readTraceMeta, type TraceMeta } from '../trace/reader.js';

export const INDEX_FILE = 'index.arrow';
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

/** Trace files in a folder: every `*.arrow` but the index. */
export function traceFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.arrow') && f !== INDEX_FILE).sort().map((f) => join(dir, f));
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
  const str = (k: 'run' | 'file' | 'combo' | 'configHash' | 'status' | 'backend') => vectorFromArray(col(k), new Utf8());
  const int = (k: 'seed' | 'epochsDone' | 'epochsPlanned') => makeVector(Int32Array.from(col(k)));
  const f64 = (k: 'testAcc' | 'testLoss' | 'outDeadRows' | 'satBeforeOut' | 'seconds') => vectorFromArray(col(k), new Float64());
  const table = new Table({
    run: str('run'), file: str('file'), combo: str('combo'), seed: int('seed'), config_hash: str('configHash'),
    status: str('status'), epochs_done: int('epochsDone'), epochs_planned: int('epochsPlanned'),
    test_acc: f64('testAcc'), test_loss: f64('testLoss'), out_dead_rows: f64('outDeadRows'), sat_before_out: f64('satBeforeOut'),
    backend: str('backend'), seconds: f64('seconds'),
  });
  table.schema.metadata.set(INDEX_VERSION_KEY, INDEX_VERSION);
  // a name of its own per process and host: shards on several nodes may write the index at once
  writeAtomic(join(dir, INDEX_FILE), tableToIPC(table, 'file'), join(dir, `.${INDEX_FILE}.${hostname()}.${process.pid}.tmp`));
  return rows;
}

/** The trace paths an index lists, or null when `path` is not a sweep index. */
export function indexedTraces(path: string): string[] | null {
  let t: Table;
  try {
    t = tableFromIPC(readFileSync(path));
  } catch {
    return null;
  }
  if (t.schema.metadata.get(INDEX_VERSION_KEY) === undefined) return null;
  const files = t.getChild('file')?.toArray() as string[] | undefined;
  return (files ?? []).map((f) => join(dirname(path), f));
}
