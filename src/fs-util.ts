import { accessSync, constants, mkdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
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
