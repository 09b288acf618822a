/**
 * What a watched folder holds now: its traces, each reduced to a digest and a state, re-read
 * only when its file changed. Read-only: files are opened for reading, never locked or written.
 *
 * A run in flight has a live lock (`<trace>.lock`, run-lock.ts). A run replacing an older trace
 * writes `<trace>.partial` until it finishes (writer.ts): while its lock is live, that file is the
 * run shown. A trace read while its writer was mid-checkpoint (footer not yet rewritten) keeps the
 * digest of the last good checkpoint; the next scan reads it again.
 */
import { realpathSync, statSync } from 'node:fs';
import { basename, join, sep } from 'node:path';
import { readTrace, type TraceMeta } from '../trace/reader.js';
import { lockHolder } from '../trace/run-lock.js';
import { RunStatus } from '../trace/schema.js';
import { PARTIAL_SUFFIX } from '../trace/writer.js';
import { traceFiles } from '../read/folder.js';
import { digestTrace, type RunDigest } from '../read/digest.js';
import { REPORT_NEEDS } from '../report/panels.js';

/**
 * A run as the live view lists it. `abandoned`: its file says running but no process holds it
 * (killed); `queued`: planned by the sweep beside the view, no trace yet.
 */
export const RunState = { ...RunStatus, abandoned: 'abandoned', queued: 'queued' } as const;
export type RunState = (typeof RunState)[keyof typeof RunState];

export interface RunRow {
  readonly run: string;
  /** the trace's file name in the folder */
  readonly file: string;
  readonly state: RunState;
  readonly stepsDone: number;
  /** planned steps (epochs × steps per epoch); null for a run that does not say */
  readonly stepsTotal: number | null;
  readonly epochsDone: number;
  readonly epochsPlanned: number | null;
  /** seconds left, from the run's own pace (its epochs' seconds, else time since its start); null when done or unknown */
  readonly etaSeconds: number | null;
  readonly testAcc: number | null;
  readonly updatedAt: string | null;
}

export interface Snapshot {
  /** changes whenever anything on the page would */
  readonly key: string;
  readonly runs: readonly RunRow[];
  readonly digests: readonly RunDigest[];
  /** `*.arrow` files that are not readable traces, with why (shown, never served) */
  readonly ignored: readonly { readonly file: string; readonly why: string }[];
  /** traces new or changed that this scan left for the next (its time budget was spent) */
  readonly pending: number;
}

interface Cached {
  readonly stamp: string;
  readonly meta: TraceMeta;
  readonly digest: RunDigest;
}

/** Whether `path` (after following links) lies inside `root` (a real path). */
export function inside(root: string, path: string): boolean {
  try {
    const real = realpathSync(path);
    return real === root || real.startsWith(root.endsWith(sep) ? root : root + sep);
  } catch {
    return false;
  }
}

export class WatchedFolder {
  private real: string | null = null;
  private readonly cache = new Map<string, Cached>();

  /** `dir` may not exist yet (a run about to create it): it is empty until it does. */
  constructor(private readonly dir: string) {}

  /** The folder's real path (links resolved), once it exists. */
  get root(): string | null {
    if (this.real === null) try { this.real = realpathSync(this.dir); } catch { /* not yet */ }
    return this.real;
  }

  /**
   * Stats every trace; re-reads those whose size or mtime changed, until `budgetMs` is spent: the
   * others wait for the next scan (counted in `pending`; a trace read before keeps its last digest
   * meanwhile), so a folder of hundreds of traces never holds the server for the whole reading.
   */
  scan(now = Date.now(), budgetMs = Infinity): Snapshot {
    const runs: RunRow[] = [], digests: RunDigest[] = [], ignored: { file: string; why: string }[] = [];
    const keys: string[] = [];
    const root = this.root;
    if (root === null) return { key: '', runs, digests, ignored, pending: 0 };
    const t0 = performance.now();
    let pending = 0, read = 0;
    let names: string[];
    try { names = traceFiles(root); } catch { names = []; }
    const seen = new Set<string>();
    for (const path of names) {
      const file = basename(path);
      // a link to a file outside the folder is never read (nor served)
      if (!inside(root, path)) { ignored.push({ file, why: 'links outside the folder' }); continue; }
      const live = lockHolder(path) !== null;
      const partial = path + PARTIAL_SUFFIX;
      const source = live && exists(partial) && inside(root, partial) ? partial : path;
      seen.add(path);
      let stamp: string;
      try { const st = statSync(source); stamp = `${source}|${st.size}|${st.mtimeMs}`; } catch { continue; }
      let c = this.cache.get(path);
      // at least one trace a scan, whatever the budget: every scan makes progress
      if ((!c || c.stamp !== stamp) && read > 0 && performance.now() - t0 > budgetMs) {
        pending++;
        if (!c) continue;
      } else if (!c || c.stamp !== stamp) {
        read++;
        try {
          const t = readTrace(source);
          // mid-checkpoint: the footer is being rewritten; keep the last good checkpoint, retry next scan
          if (t.recovered && live && c) {
            stamp = c.stamp;
          } else {
            const { columns: _c, ...meta } = t;
            void _c;
            c = { stamp, meta, digest: { ...digestTrace(t, REPORT_NEEDS), path } };
            this.cache.set(path, c);
          }
        } catch (e) {
          if (!c) { ignored.push({ file, why: (e as Error).message }); continue; }
        }
      }
      const row = rowOf(c.meta, file, live, now);
      runs.push(row);
      digests.push(c.digest);
      keys.push(`${c.stamp}|${row.state}`);
    }
    for (const k of [...this.cache.keys()]) if (!seen.has(k)) this.cache.delete(k);
    return { key: keys.join('\n') + (pending ? `\npending ${pending}` : ''), runs, digests, ignored, pending };
  }
}

function exists(path: string): boolean {
  try { return statSync(path).isFile(); } catch { return false; }
}

export function rowOf(m: TraceMeta, file: string, live: boolean, now: number): RunRow {
  const p = m.progress;
  const epochsPlanned = m.config.epochs;
  const stepsPerEpoch = m.facts.stepsPerEpoch;
  const stepsTotal = epochsPlanned !== null && stepsPerEpoch > 0 ? epochsPlanned * stepsPerEpoch : null;
  const stepsDone = p?.stepsDone ?? 0;
  const epochsDone = p?.epochsDone ?? 0;
  const state: RunState = m.status === RunStatus.running && !live ? RunState.abandoned : m.status;
  let eta: number | null = null;
  if (state === RunState.running && stepsTotal !== null && p) {
    const epochSeconds = p.epochSeconds.reduce((s, x) => s + x, 0);
    const started = Date.parse(m.facts.startedAt), updated = Date.parse(p.updatedAt);
    // the pace of finished epochs includes their evaluations; before the first, time since start
    const perStep = epochsDone > 0 ? epochSeconds / (epochsDone * stepsPerEpoch) : stepsDone > 0 ? (updated - started) / 1000 / stepsDone : NaN;
    const sinceCheckpoint = Number.isFinite(updated) ? Math.max(0, (now - updated) / 1000) : 0;
    if (Number.isFinite(perStep)) eta = Math.max(0, (stepsTotal - stepsDone) * perStep - sinceCheckpoint);
  }
  const acc = p?.final?.testAcc;
  return {
    run: m.run, file, state, stepsDone, stepsTotal, epochsDone, epochsPlanned, etaSeconds: eta,
    testAcc: typeof acc === 'number' && Number.isFinite(acc) ? acc : null,
    updatedAt: p?.updatedAt ?? null,
  };
}

/** Rows for planned runs that have no trace in the snapshot yet. */
export function queuedRows(snap: Snapshot, planned: readonly { readonly run: string; readonly file: string }[]): RunRow[] {
  const present = new Set(snap.runs.map((r) => r.file));
  return planned.filter((p) => !present.has(p.file)).map((p) => ({
    run: p.run, file: p.file, state: RunState.queued, stepsDone: 0, stepsTotal: null, epochsDone: 0, epochsPlanned: null, etaSeconds: null, testAcc: null, updatedAt: null,
  }));
}

/** The trace a run row names, if it is still one of the folder's (for downloads). */
export function traceOf(root: string | null, snapshot: Snapshot, file: string): string | null {
  if (root === null || !snapshot.runs.some((r) => r.file === file)) return null;
  const path = join(root, file);
  return inside(root, path) ? path : null;
}
