/**
 * What is already at a trace's path, for deciding whether a run may write there: nothing; a
 * trace (finished or not, with the same settings or not); a file that holds nothing readable (empty,
 * not Arrow, damaged beyond recovery: redoing the run loses nothing); or something else that is
 * not ours to replace (a folder, a trace of another format version).
 */
import { statSync } from 'node:fs';
import { ErrorCode, isProbeError } from '../errors.js';
import { readTraceMeta, type TraceMeta } from './reader.js';
import { isFinished } from './schema.js';

export type Existing =
  | { readonly kind: 'absent' }
  | { readonly kind: 'trace'; readonly meta: TraceMeta; readonly finished: boolean; readonly sameConfig: boolean }
  | { readonly kind: 'unreadable'; readonly why: string }
  | { readonly kind: 'foreign'; readonly why: string };

export function existingTrace(path: string, configHash: string): Existing {
  let st;
  try { st = statSync(path); } catch { return { kind: 'absent' }; }
  if (!st.isFile()) return { kind: 'foreign', why: 'not a file' };
  if (st.size === 0) return { kind: 'unreadable', why: 'empty file' };
  try {
    const meta = readTraceMeta(path);
    return { kind: 'trace', meta, finished: isFinished(meta.status), sameConfig: meta.config.configHash === configHash };
  } catch (e) {
    if (isProbeError(e) && e.code === ErrorCode.traceVersion) return { kind: 'foreign', why: e.message };
    return { kind: 'unreadable', why: (e as Error).message };
  }
}
