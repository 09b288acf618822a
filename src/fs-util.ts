import { accessSync, closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readlinkSync, realpathSync, renameSync, statSync, unlinkSync, writeFileSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { ProbeError, ErrorCode } from './errors.js';
import { msg } from './messages.js';

/** Whether `p` exists and is a folder. */
export function isDirectory(p: string): boolean {
  try { return statSync(p).isDirectory(); } catch { return false; }
}

/**
 * Creates `dir` (and missing parents) or checks it exists, and that it is writable. Parents are
 * made one at a time: Node 20's recursive mkdirSync spins forever under /proc.
 */
export function ensureWritableDir(dir: string): void {
  const abs = resolve(dir);
  const missing: string[] = [];
  let cur = abs;
  try {
    for (;;) {
      try {
        if (!statSync(cur).isDirectory()) throw Object.assign(new Error(`${cur} is not a directory`), { code: 'ENOTDIR' });
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        const up = dirname(cur);
        if (up === cur) throw e;
        missing.unshift(cur);
        cur = up;
      }
    }
    accessSync(cur, constants.W_OK);
    for (const d of missing) mkdirSync(d);
    accessSync(abs, constants.W_OK);
  } catch (cause) {
    const why = (cause as NodeJS.ErrnoException).code ?? (cause as Error).message;
    throw new ProbeError(ErrorCode.io, msg.outDirNotWritable(dir, why), { cause });
  }
}

/** The code of a failed system call (ENOSPC, EACCES, …), or null for any other error. */
export function errnoCode(e: unknown): string | null {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) ? code : null;
}

/**
 * Files written under temporary names beside their own, then renamed into place together once
 * all are written: a failure on the way (a full disk) leaves the folder as it was, and renames
 * need no new space.
 */
export class StagedWrites {
  private readonly staged: (readonly [tmp: string, path: string])[] = [];

  write(path: string, content: string | Uint8Array): void {
    const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
    this.staged.push([tmp, path]);
    writeFileSync(tmp, content);
  }

  commit(): void {
    for (const [tmp, path] of this.staged) renameSync(tmp, path);
    this.staged.length = 0;
  }

  abort(): void {
    for (const [tmp] of this.staged) try { unlinkSync(tmp); } catch { /* never made */ }
    this.staged.length = 0;
  }
}

/** Writes to a temporary name, then renames: readers never see a half-written file. */
export function writeAtomic(path: string, content: string | Uint8Array, tmp = `${path}.tmp`): void {
  try {
    writeFileSync(tmp, content);
    renameSync(tmp, path);
  } catch (e) {
    try { unlinkSync(tmp); } catch { /* never made */ }
    throw e;
  }
}

/** Why {@link openConfined} refused a path. */
export type Refusal = 'missing' | 'outside' | 'not-file';

export class RefusedPath extends Error {
  constructor(readonly refusal: Refusal, readonly path: string, readonly detail: string, options?: { cause?: unknown }) {
    super(detail, options);
  }
}

/** Whether the real path `real` is the real folder `root` or lies under it. */
export function within(root: string, real: string): boolean {
  return real === root || real.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** What a file that is not a regular one is, in words. */
export function fileKind(st: Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** The path the open descriptor `fd` refers to, where the system says (Linux's /proc), else null. */
function openedPath(fd: number): string | null {
  try { return readlinkSync(`/proc/self/fd/${fd}`); } catch { return null; }
}

/**
 * Opens a regular file for reading only if it lies inside the real folder `root`, judging by
 * what was opened, not by the name before opening (a name swapped for a link in between passes
 * any check of the name): the path is resolved and checked, the resolved path opened without
 * blocking (a FIFO would wait forever for a writer), then the descriptor is checked: its kind by
 * fstat, its place by the path the system gives for it (Linux's /proc; elsewhere, by device and
 * inode against the resolved name, not following a link put there since).
 * Throws {@link RefusedPath}; the caller closes the returned descriptor.
 */
export function openConfined(root: string, path: string): { fd: number; size: number; real: string } {
  let real: string;
  try { real = realpathSync(path); } catch (cause) { throw new RefusedPath('missing', path, 'no such file', { cause }); }
  if (!within(root, real)) throw new RefusedPath('outside', path, `it resolves to ${real}, outside ${root}`);
  let fd: number;
  try {
    fd = openSync(real, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new RefusedPath('missing', path, code === 'ENOENT' ? 'no such file' : code ?? String(cause), { cause });
  }
  try {
    const st = fstatSync(fd);
    const opened = openedPath(fd);
    if (opened !== null ? !within(root, opened) : !sameFile(st, real)) throw new RefusedPath('outside', path, `it changed to ${opened ?? 'another file'}, outside ${root}`);
    if (!st.isFile()) throw new RefusedPath('not-file', path, fileKind(st));
    return { fd, size: st.size, real: opened ?? real };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

function sameFile(st: Stats, path: string): boolean {
  try { const s = lstatSync(path); return s.dev === st.dev && s.ino === st.ino; } catch { return false; }
}
