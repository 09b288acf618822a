import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSyntheticTrace } from './synthetic.js';
import { runCli, tmp } from './helpers.js';

// what report, export and compare leave when they cannot write: one line, exit 2, and the
// previous output as it was (#26: a full disk was an 'internal error', --csv '' a rename error)

process.env.FORCE_COLOR = '0';

/** A small tmpfs, or the reason there is none (mounting needs root, or CAP_SYS_ADMIN). */
function smallDisk(size: string): { dir: string; unmount: () => void } | string {
  const dir = tmp('probe-full-');
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (m.status !== 0) return `cannot mount a small tmpfs here: ${(m.stderr || m.error?.message || '').trim()}`;
  return { dir, unmount: () => spawnSync('umount', ['-l', dir]) };
}

/** Fills the file system until only about `bytes` are free. */
function fill(dir: string, bytes: number): void {
  const s = statfsSync(dir);
  writeFileSync(join(dir, `filler-${Date.now()}`), Buffer.alloc(Math.max(0, s.bavail * s.bsize - bytes)));
}

/** Every file under `dir` (relative path → content). */
const snapshot = (dir: string): Record<string, string> => Object.fromEntries(readdirSync(dir, { recursive: true, withFileTypes: true })
  .filter((e) => e.isFile()).map((e) => { const p = join(e.parentPath, e.name); return [p.slice(dir.length + 1), readFileSync(p).toString('base64')]; }).sort());

async function oneLine(args: string[], re: RegExp) {
  const r = await runCli(args);
  assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status} ${r.stderr}`);
  // warnings about the traces may come first; the failure is one line
  const errors = r.stderr.trim().split('\n').filter((l) => l.startsWith('error'));
  assert.equal(errors.length, 1, r.stderr);
  assert.match(errors[0], re);
}

const runs = tmp();
writeSyntheticTrace(runs, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.3, deadRows: 0.5 });
writeSyntheticTrace(runs, { combo: 'relu-tanh-relu', seed: 1, acc: 0.9 });

test('a full disk under report, export and compare --html: one line naming it, exit 2, the previous output as it was', async (t) => {
  const disk = smallDisk('16m');
  if (typeof disk === 'string') return t.skip(disk);
  try {
    const out = join(disk.dir, 'report');
    assert.equal((await runCli(['report', runs, '--no-images', '--out', out])).status, 0);
    const csv = join(disk.dir, 'runs.csv'), page = join(disk.dir, 'compare.html');
    assert.equal((await runCli(['export', runs, '--csv', csv])).status, 0);
    const before = snapshot(disk.dir), reportBefore = snapshot(out);
    fill(disk.dir, 0);
    await oneLine(['report', runs, '--no-images', '--out', out], /^error could not write .*report \(no space left on the device\): the report there is as it was; free some space and run again$/);
    assert.deepEqual(snapshot(out), reportBefore, 'every file of the previous report as it was, nothing beside them');
    await oneLine(['export', runs, '--csv', csv, '--force'], /^error could not write .*runs\.csv \(no space left on the device\): .*runs\.csv is as it was; free some space/);
    await oneLine(['export', runs, '--parquet', join(disk.dir, 'new.parquet')], /^error could not write .*new\.parquet \(no space left on the device\): no file was left/);
    await oneLine(['report', runs, '--no-images', '--out', join(disk.dir, 'fresh')], /^error .*(no space left on the device)/);
    await oneLine(['compare', runs, '--html', page], /^error could not write .*compare\.html \(no space left on the device\): no page was left/);
    const after = snapshot(disk.dir);
    for (const f of Object.keys(after)) if (f.startsWith('filler-')) delete after[f];
    for (const f of Object.keys(before)) if (f.startsWith('filler-')) delete before[f];
    assert.deepEqual(after, before, 'no temporary, partial or new file left, the old ones untouched');
  } finally {
    disk.unmount();
  }
});

test("empty output names are refused in one line, as --out '' and --html '' are: export --csv '', --parquet ''", async () => {
  const dir = tmp();
  for (const flag of ['--csv', '--parquet']) {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      await oneLine(['export', runs, flag, ''], new RegExp(`^error ${flag} must name a file, got ''`));
    } finally {
      process.chdir(cwd);
    }
    assert.deepEqual(readdirSync(dir), [], 'nothing written in the current folder');
  }
});
