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
import { rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { writeAtomic } from '../fs-util.js';
import { basename, join } from 'node:path';
import { Dictionary, Float64, Int32, makeVector, tableToIPC, Table, vectorFromArray, Utf8 } from 'apache-arrow';
import { readTraceMeta, type TraceMeta } from '../trace/reader.js';
import { HYPOTHESES } from '../study/study.js';
import { INDEX_FILE, INDEX_VERSION_KEY, LEGACY_INDEX_FILE, indexedTraces, traceFiles } from '../read/folder.js';
import { NUMERIC_SETTINGS, runSettings, Setting, SETTINGS, type SettingValues } from '../read/settings.js';

/**
 * 2: the H1/H2 columns are the study's primary measures (were dead_rows and sat_frac of training steps);
 * 3: the run's settings as columns (read/settings.ts), added after `seconds`
 */
export const INDEX_VERSION = '3';
/** Index columns of the hypotheses' primary measures (study.ts), named after them. */
export const H1_COLUMN = `h1_out_${HYPOTHESES[0].primary.replace(/^test_/, '')}`;
export const H2_COLUMN = `h2_prev_${HYPOTHESES[1].primary.replace(/^test_/, '')}`;

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
  /** H1's primary measure at the last evaluation: share of (test input, output unit) pairs with z ≤ 0 at a ReLU output */
  readonly h1: number | null;
  /** H2's primary measure at the last evaluation: share of (test input, unit) pairs at the extremes in the bounded layer before the output */
  readonly h2: number | null;
  readonly backend: string;
  readonly seconds: number;
  /** the run's settings (null where its trace does not say) */
  readonly settings: SettingValues;
}

/** Settings the index adds as columns (config_hash and backend have theirs already; epochs is epochs_planned). */
const SETTING_COLUMNS: readonly Setting[] = SETTINGS.filter((k) => k !== Setting.configHash && k !== Setting.backend && k !== Setting.epochs);

export function indexRow(m: TraceMeta): IndexRow {
  const L = m.facts.layers.length;
  const f = m.progress?.final;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  return {
    run: m.run,
    file: basename(m.path),
    combo: m.facts.combo,
    seed: m.facts.seed,
    configHash: m.config.configHash ?? '',
    status: m.status,
    epochsDone: m.progress?.epochsDone ?? 0,
    epochsPlanned: m.config.epochs ?? 0,
    testAcc: num(f?.testAcc),
    testLoss: num(f?.testLoss),
    h1: num(f?.diagnosis?.[`${L - HYPOTHESES[0].layerFromOut}/${HYPOTHESES[0].primary}`]),
    h2: num(f?.diagnosis?.[`${L - HYPOTHESES[1].layerFromOut}/${HYPOTHESES[1].primary}`]),
    backend: m.facts.backend,
    seconds: (m.progress?.epochSeconds ?? []).reduce((s, x) => s + x, 0),
    settings: runSettings(m.config, m.facts),
  };
}

const NO_SETTINGS = Object.fromEntries(SETTINGS.map((k) => [k, null])) as SettingValues;

/** Rebuilds the index of `dir` from its traces' footers; unreadable files are listed as such. */
export function writeIndex(dir: string): IndexRow[] {
  const rows: IndexRow[] = [];
  for (const p of traceFiles(dir)) {
    try {
      rows.push(indexRow(readTraceMeta(p)));
    } catch {
      rows.push({ run: basename(p, '.arrow'), file: basename(p), combo: '', seed: -1, configHash: '', status: 'unreadable', epochsDone: 0, epochsPlanned: 0, testAcc: null, testLoss: null, h1: null, h2: null, backend: '', seconds: 0, settings: NO_SETTINGS });
    }
  }
  const col = <K extends keyof IndexRow>(k: K) => rows.map((r) => r[k]);
  // `run` dictionary-encoded like the traces' column, so index and traces join without a cast
  // (Polars reads both as Categorical); Int32 keys: a sweep may list more runs than Int8 holds
  const run = vectorFromArray(col('run'), new Dictionary(new Utf8(), new Int32()));
  const str = (k: 'file' | 'combo' | 'configHash' | 'status' | 'backend') => vectorFromArray(col(k), new Utf8());
  const int = (k: 'seed' | 'epochsDone' | 'epochsPlanned') => makeVector(Int32Array.from(col(k)));
  const f64 = (k: 'testAcc' | 'testLoss' | 'h1' | 'h2' | 'seconds') => vectorFromArray(col(k), new Float64());
  const table = new Table({
    run, file: str('file'), combo: str('combo'), seed: int('seed'), config_hash: str('configHash'),
    status: str('status'), epochs_done: int('epochsDone'), epochs_planned: int('epochsPlanned'),
    test_acc: f64('testAcc'), test_loss: f64('testLoss'), [H1_COLUMN]: f64('h1'), [H2_COLUMN]: f64('h2'),
    backend: str('backend'), seconds: f64('seconds'),
    ...Object.fromEntries(SETTING_COLUMNS.map((k) => {
      const vs = rows.map((r) => r.settings[k]);
      return [k, NUMERIC_SETTINGS.has(k) ? vectorFromArray(vs.map((v) => (typeof v === 'number' ? v : null)), new Float64()) : vectorFromArray(vs.map((v) => (v === null ? null : String(v))), new Utf8())];
    })),
  });
  table.schema.metadata.set(INDEX_VERSION_KEY, INDEX_VERSION);
  // a name of its own per process and host: shards on several nodes may write the index at once
  writeAtomic(join(dir, INDEX_FILE), tableToIPC(table, 'file'), join(dir, `.${INDEX_FILE}.${hostname()}.${process.pid}.tmp`));
  // the legacy index would otherwise stay in the traces' glob, stale
  const legacy = join(dir, LEGACY_INDEX_FILE);
  if (indexedTraces(legacy) !== null) rmSync(legacy, { force: true });
  return rows;
}

