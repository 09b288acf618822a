/**
 * What an unfinished run needs to go on exactly where its trace's last checkpoint ends: written
 * beside the trace as `<trace>.resume` after every checkpoint (and when the run is interrupted),
 * removed once the run finishes. The trace keeps the rows; this file keeps what is not in them:
 * the model's weights and optimizer buffers, the recorder's running sums, the loop's position.
 *
 * Layout: the magic `PROBERES`, a little-endian uint32 length, a JSON header, then each array's
 * bytes at the 8-byte-aligned offset the header gives. Numbers that JSON cannot hold (NaN, ±∞)
 * are written as strings. Written to a temporary name, synced, then renamed: a reader finds the
 * last whole state or none.
 */
import { closeSync, fdatasyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';

export const RESUME_SUFFIX = '.resume';
const MAGIC = 'PROBERES';
/** Bump when the header's meaning changes: an older state is then not resumed from (the run starts over). */
export const RESUME_VERSION = 1;

export type StateArray = { readonly name: string; readonly values: Float32Array | Float64Array };

export interface ResumeState {
  readonly version: number;
  /** the run's config hash: a state of other settings is never resumed from */
  readonly configHash: string;
  /** the backend the steps so far ran on */
  readonly backend: string;
  /** the trace rows this state follows: a resumed trace keeps exactly these */
  readonly rows: number;
  /** scalars of the recorder and of the training loop (JSON) */
  readonly scalars: Readonly<Record<string, unknown>>;
  readonly arrays: readonly StateArray[];
}

const encode = (_: string, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v);
const decodeNumber = (v: unknown): unknown => (v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v);

export function writeResumeState(tracePath: string, s: ResumeState): void {
  const arrays = s.arrays.map((a) => ({ name: a.name, dtype: a.values instanceof Float64Array ? 'f64' : 'f32', length: a.values.length, offset: 0 }));
  // offsets relative to the data section, 8-aligned
  let off = 0;
  for (let i = 0; i < arrays.length; i++) {
    arrays[i].offset = off;
    off += Math.ceil(s.arrays[i].values.byteLength / 8) * 8;
  }
  const header = Buffer.from(JSON.stringify({ ...s, arrays }, encode), 'utf8');
  const head = 8 + 4 + header.length;
  const dataStart = Math.ceil(head / 8) * 8;
  const buf = Buffer.alloc(dataStart + off);
  buf.write(MAGIC, 0, 'latin1');
  buf.writeUInt32LE(header.length, 8);
  header.copy(buf, 12);
  s.arrays.forEach((a, i) => Buffer.from(a.values.buffer, a.values.byteOffset, a.values.byteLength).copy(buf, dataStart + arrays[i].offset));
  const path = tracePath + RESUME_SUFFIX, tmp = `${path}.tmp`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      // writeSync may write less than asked (a nearly full disk): the rest, until it throws
      for (let at = 0; at < buf.length;) at += writeSync(fd, buf, at, buf.length - at, at);
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** The state beside a trace, or why there is none to resume from. */
export function readResumeState(tracePath: string): { state: ResumeState } | { why: string } {
  let buf: Buffer;
  try {
    buf = readFileSync(tracePath + RESUME_SUFFIX);
  } catch {
    return { why: 'no resume state beside it (it was written by an older probe, or stopped before its first checkpoint)' };
  }
  try {
    if (buf.length < 12 || buf.toString('latin1', 0, 8) !== MAGIC) throw new Error('not a resume state');
    const n = buf.readUInt32LE(8);
    const h = JSON.parse(buf.toString('utf8', 12, 12 + n), (_k, v: unknown) => decodeNumber(v)) as Omit<ResumeState, 'arrays'> & { arrays: { name: string; dtype: string; length: number; offset: number }[] };
    if (h.version !== RESUME_VERSION) return { why: `its resume state has format version ${h.version}, this probe reads ${RESUME_VERSION}` };
    const dataStart = Math.ceil((12 + n) / 8) * 8;
    const arrays = h.arrays.map((a) => {
      const bytes = a.length * (a.dtype === 'f64' ? 8 : 4), at = dataStart + a.offset;
      if (at + bytes > buf.length) throw new Error(`array ${a.name} runs past the end`);
      const copy = new Uint8Array(buf.subarray(at, at + bytes));
      return { name: a.name, values: a.dtype === 'f64' ? new Float64Array(copy.buffer) : new Float32Array(copy.buffer) };
    });
    return { state: { ...h, arrays } };
  } catch (e) {
    return { why: `its resume state is damaged (${(e as Error).message})` };
  }
}

export function removeResumeState(tracePath: string): void {
  rmSync(tracePath + RESUME_SUFFIX, { force: true });
}
