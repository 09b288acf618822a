/**
 * One run is computed by one process: before it writes a trace, a process claims the run with a
 * lock file beside it (`<trace>.lock`), created with O_EXCL so exactly one creator wins, holding
 * its pid, host and a random token.
 *
 * A lock whose holder is gone is stale and may be taken over. The rule must work when several
 * machines share the folder (a cluster's shared file system), where a pid means nothing:
 * - the holder rewrites the file every {@link HEARTBEAT_MS}, so its mtime says it is alive;
 * - a lock not rewritten for {@link STALE_MS} is stale, whichever host holds it (hosts' clocks must
 *   agree to well within that: NTP does);
 * - on the holder's own host, a lock whose pid no longer runs is stale at once.
 * Taking over renames the stale file to a name of one's own first, so of two processes that both
 * judged it stale only one takes it; the other finds its renamed file is not the one it judged.
 */
import { closeSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync, ftruncateSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';

export const LOCK_SUFFIX = '.lock';
export const HEARTBEAT_MS = 10_000;
export const STALE_MS = 120_000;

export interface LockInfo {
  readonly pid: number;
  readonly host: string;
  readonly token: string;
  readonly startedAt: string;
  /** heartbeats so far; each rewrite changes the file's mtime */
  readonly beats: number;
}

export interface RunLock {
  readonly path: string;
  readonly info: LockInfo;
  /** deletes the lock if it is still ours; idempotent */
  release(): void;
}

export type LockAttempt =
  | { readonly acquired: true; readonly lock: RunLock }
  | { readonly acquired: false; readonly holder: LockInfo | null; readonly path: string };

export const lockPathOf = (tracePath: string): string => tracePath + LOCK_SUFFIX;

function readLock(path: string): { info: LockInfo | null; mtimeMs: number } | null {
  try {
    const mtimeMs = statSync(path).mtimeMs;
    let info: LockInfo | null = null;
    try { info = JSON.parse(readFileSync(path, 'utf8')) as LockInfo; } catch { /* being written, or damaged */ }
    return { info: info && typeof info.token === 'string' ? info : null, mtimeMs };
  } catch {
    return null;
  }
}

/**
 * Whether `pid` runs. A zombie (dead, not yet reaped by its parent: after a whole sweep is killed
 * its workers stay so for a second or more) passes kill(pid, 0) but holds nothing: on Linux its
 * state in /proc says so.
 */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  let stat: string;
  try { stat = readFileSync(`/proc/${pid}/stat`, 'utf8'); } catch { return true; } // no /proc: kill's word
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}

/** Whether a lock file seen with this content and mtime belongs to no live process. */
export function isStale(info: LockInfo | null, mtimeMs: number, now = Date.now()): boolean {
  if (now - mtimeMs > STALE_MS) return true;
  if (info && info.host === hostname() && info.pid !== process.pid && !pidAlive(info.pid)) return true;
  return false;
}

/** The live holder of a trace's lock, or null when the run is free (no lock, or a stale one). */
export function lockHolder(tracePath: string): LockInfo | null {
  const seen = readLock(lockPathOf(tracePath));
  if (!seen || isStale(seen.info, seen.mtimeMs)) return null;
  return seen.info ?? { pid: 0, host: '?', token: '', startedAt: '?', beats: 0 };
}

function create(path: string, info: LockInfo): number | null {
  let fd: number;
  try {
    fd = openSync(path, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return null;
    throw e;
  }
  try {
    writeSync(fd, JSON.stringify(info));
  } catch (e) {
    closeSync(fd);
    try { unlinkSync(path); } catch { /* gone */ }
    throw e;
  }
  return fd;
}

/** Claims the run whose trace is `tracePath`; errors of the file system (EACCES, ENOSPC) throw. */
export function acquireRunLock(tracePath: string): LockAttempt {
  const path = lockPathOf(tracePath);
  const token = randomBytes(8).toString('hex');
  const info: LockInfo = { pid: process.pid, host: hostname(), token, startedAt: new Date().toISOString(), beats: 0 };
  for (let attempt = 0; attempt < 3; attempt++) {
    const fd = create(path, info);
    if (fd !== null) return { acquired: true, lock: held(path, fd, info) };
    const seen = readLock(path);
    if (!seen) continue; // released meanwhile: try again
    if (!isStale(seen.info, seen.mtimeMs)) return { acquired: false, holder: seen.info, path };
    // take the stale file away under a name of our own, then check it is the one we judged
    const aside = `${path}.${token}.stale`;
    try { renameSync(path, aside); } catch { continue; }
    const moved = readLock(aside);
    const same = moved !== null && moved.mtimeMs === seen.mtimeMs && moved.info?.token === seen.info?.token;
    if (same) {
      unlinkSync(aside);
    } else {
      // we moved a fresh lock another process had just created: give it back, and yield
      try { renameSync(aside, path); } catch { /* its owner will see it lost it */ }
      return { acquired: false, holder: moved?.info ?? null, path };
    }
  }
  return { acquired: false, holder: readLock(path)?.info ?? null, path };
}

function held(path: string, fd: number, info: LockInfo): RunLock {
  let beats = 0, released = false;
  const ours = () => readLock(path)?.info?.token === info.token;
  // rewriting the content (not utimes) lets a shared file system stamp the mtime with its own clock
  const timer = setInterval(() => {
    if (!ours()) return;
    try {
      const text = JSON.stringify({ ...info, beats: ++beats });
      ftruncateSync(fd, 0);
      writeSync(fd, text, 0);
    } catch { /* a missed beat; the next may succeed */ }
  }, HEARTBEAT_MS);
  timer.unref();
  return {
    path,
    info,
    release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      try { if (ours()) unlinkSync(path); } catch { /* gone */ }
      try { closeSync(fd); } catch { /* closed */ }
    },
  };
}
