/**
 * What a folder of traces holds: the trace files in it, and the traces a sweep's index lists.
 * Every reader (report, compare, watch, export) lists its inputs here; the sweep writes the index
 * (sweep/sweep-index.ts) under the names declared here, so readers can skip it.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { tableFromIPC, type Table } from 'apache-arrow';
import { ProbeError, ErrorCode, isProbeError } from '../errors.js';
import { msg } from '../messages.js';
import { readTraceMeta } from '../trace/reader.js';

/** The sweep index's file name: outside the `*.arrow` glob of the traces. */
export const INDEX_FILE = '_index.feather';
/** The name earlier versions gave it (inside the glob; still read, and removed when rewritten). */
export const LEGACY_INDEX_FILE = 'index.arrow';
/** Schema metadata key that marks an Arrow file as a sweep index, and its version. */
export const INDEX_VERSION_KEY = 'probe.index_version';

/** Whether a file name is a sweep index's (the current or the legacy name). */
export function isIndexName(name: string): boolean {
  return name === INDEX_FILE || name === LEGACY_INDEX_FILE;
}

/** Trace files in a folder: every `*.arrow` but a legacy index. */
export function traceFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.arrow') && !isIndexName(f)).sort().map((f) => join(dir, f));
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
 *
 * One rule for every reader (report, compare, export; watch lists what it ignores on its page):
 * a file found in a folder or listed by an index that is not a readable trace (not Arrow, another
 * format version, missing, a FIFO) is skipped, and `onSkip` hears one warning counting them; a
 * file named itself is kept, so that reading it fails with the reason. Its footer is all that is
 * read to decide (readTraceMeta: two small reads).
 */
export function collectTraces(inputs: readonly string[], onSkip: (warning: string) => void = () => {}): string[] {
  const out: string[] = [];
  const skipped: { readonly path: string; readonly why: string }[] = [];
  let found = 0;
  const consider = (path: string) => {
    found++;
    try {
      readTraceMeta(path);
      out.push(path);
    } catch (e) {
      if (!isProbeError(e)) throw e;
      skipped.push({ path, why: e.message });
    }
  };
  for (const i of inputs) {
    let st;
    try { st = statSync(i); } catch (cause) { throw new ProbeError(ErrorCode.trace, msg.traceMissing(i), { cause }); }
    const listed = st.isDirectory() ? traceFiles(i) : isIndexName(basename(i)) ? indexedTraces(i) : null;
    if (listed) listed.forEach(consider);
    else out.push(i);
  }
  if (out.length === 0) throw new ProbeError(ErrorCode.trace, skipped.length ? msg.noReadableTraces(inputs, skipped) : msg.noTraces(inputs));
  if (skipped.length) onSkip(msg.skippedUnreadable(skipped, found));
  return [...new Set(out)];
}
