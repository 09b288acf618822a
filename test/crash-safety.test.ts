import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Table, tableToIPC } from 'apache-arrow';
import { runExperiment, isProbeError } from '../src/index.js';
import { readTrace } from '../src/trace/reader.js';
import { TraceWriter, PARTIAL_SUFFIX } from '../src/trace/writer.js';
import { readResumeState } from '../src/trace/resume-state.js';
import { MetaKey, RunStatus, traceSchema, type RunProgress } from '../src/trace/schema.js';
import { planSweep } from '../src/sweep/sweep.js';
import * as tf from '@tensorflow/tfjs';
import { saveModelFiles } from '../src/attach/model-file.js';
import { BIN, FIXTURES, runCli, tmp, useBackend } from './helpers.js';

before(() => useBackend('wasm'));
process.env.FORCE_COLOR = '0';
const quick = { dataDir: FIXTURES, backend: 'wasm' };
const cliQuick = ['--data-dir', FIXTURES, '--backend', 'wasm', '--quiet'];

const progress = (status: RunStatus, epochsDone = 0): RunProgress => ({
  status, epochsDone, stepsDone: 0, updatedAt: '', endedAt: null, epochSeconds: [], probeOverhead: null, writeOverhead: null,
});
const header = {
  run: 'r', probes: ['loss'], metrics: ['loss'],
  metadata: { [MetaKey.config]: { epochs: 3 }, [MetaKey.facts]: { run: 'r', layers: [] } },
};

/** pyarrow's own verdict on a file: its row count, or the error it raises. */
function pyarrowRows(path: string): number | string | null {
  const python = process.env.PROBE_PYTHON;
  if (!python) return null;
  const r = spawnSync(python, ['-c', 'import sys, pyarrow.ipc as ipc; print(ipc.open_file(sys.argv[1]).read_all().num_rows)', path], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout) : r.stderr.trim().split('\n').pop()!;
}

/** A 2 MB tmpfs, or the reason there is none (mounting needs root, or CAP_SYS_ADMIN). */
function smallDisk(): { dir: string; unmount: () => void } | string {
  const dir = tmp('probe-full-');
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir], { encoding: 'utf8' });
  if (m.status !== 0) return `cannot mount a small tmpfs here: ${(m.stderr || m.error?.message || '').trim()}`;
  return { dir, unmount: () => spawnSync('umount', ['-l', dir]) };
}

/** Fills a file system until only about `bytes` are free. */
function fill(dir: string, bytes: number): void {
  const s = statfsSync(dir);
  writeFileSync(join(dir, `filler-${bytes}`), Buffer.alloc(Math.max(0, s.bavail * s.bsize - bytes)));
}

test('a full disk: exit 2 naming it, the last checkpoint whole (pyarrow reads it), and no empty trace left to block a rerun', async (t) => {
  const disk = smallDisk();
  if (typeof disk === 'string') return t.skip(disk);
  try {
    const out = join(disk.dir, 'runs');
    mkdirSync(out);
    fill(disk.dir, 160_000);
    // each epoch on the fixtures adds ~40 KB: a few checkpoints fit, then the disk is full
    const r = await runCli(['run', 'relu-sigmoid-relu', ...cliQuick, '--epochs', '1000', '--out', out]);
    assert.equal(r.status, 2, r.stderr);
    // and what to do: the trace is readable, so running again needs --force (#26, defect 18)
    assert.match(r.stderr.trim(), /^error could not write trace .*relu-sigmoid-relu_s1.arrow \(no space left on the device\): it keeps its last checkpoint, readable as it is; free some space and run the same command again: it resumes from there$/);
    const path = join(out, 'relu-sigmoid-relu_s1.arrow');
    const trace = readTrace(path);
    assert.equal(trace.recovered, false, 'the footer of the last checkpoint survived the failed write');
    assert.equal(trace.status, 'running');
    assert.ok(trace.progress!.epochsDone >= 1, `${trace.progress!.epochsDone} epochs kept`);
    const py = pyarrowRows(path);
    if (py !== null) assert.equal(py, trace.columns.length, `pyarrow: ${py}`);
    // beside it at most the state a rerun resumes from (it fits the trace's first rows)
    const left = readdirSync(out).sort();
    assert.deepEqual(left.filter((f) => f !== 'relu-sigmoid-relu_s1.arrow.resume'), ['relu-sigmoid-relu_s1.arrow'], 'no lock, partial or temporary file left behind');
    if (left.length === 2) {
      const st = readResumeState(path);
      assert.ok('state' in st && st.state.rows <= trace.columns.length, 'a whole state, of rows the trace holds');
    }
    // a disk too full for even the first checkpoint leaves no (empty) trace at all
    fill(disk.dir, 4096); // room for the run's lock, not for its first checkpoint
    const none = await runCli(['run', 'tanh-tanh-tanh', ...cliQuick, '--epochs', '1', '--out', out]);
    assert.equal(none.status, 2, none.stderr);
    // which it says, rather than that a checkpoint is kept (#26, defect 17)
    assert.match(none.stderr.trim(), /^error could not write trace .*tanh-tanh-tanh_s1.arrow \(no space left on the device\): no trace was left; free some space and run again$/);
    // the same run with --force: the full trace stays as it was, the new one is only beside it
    const again = await runCli(['run', 'relu-sigmoid-relu', ...cliQuick, '--epochs', '1', '--force', '--out', out]);
    assert.equal(again.status, 2, again.stderr);
    assert.match(again.stderr.trim(), /^error could not write trace .*relu-sigmoid-relu_s1.arrow \(no space left on the device\): the trace there is as it was; free some space and run the same command again$/);
    assert.deepEqual(readdirSync(out).filter((f) => !f.endsWith('.resume')).sort(), ['relu-sigmoid-relu_s1.arrow']);
  } finally {
    disk.unmount();
  }
});

test('a full disk under probe run --model: the message says a rerun needs --force (an attached model is not resumed)', async (t) => {
  const disk = smallDisk();
  if (typeof disk === 'string') return t.skip(disk);
  try {
    const m = tf.sequential({ name: 'net' });
    m.add(tf.layers.dense({ inputShape: [784], units: 16, activation: 'relu', name: 'hidden' }));
    m.add(tf.layers.dense({ units: 10, name: 'out' }));
    const model = await saveModelFiles(m, tmp());
    m.dispose();
    const out = join(disk.dir, 'runs');
    mkdirSync(out);
    fill(disk.dir, 160_000);
    const r = await runCli(['run', '--model', model, ...cliQuick, '--epochs', '1000', '--out', out]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr.trim(), /^error could not write trace .*_s1.arrow \(no space left on the device\): it keeps its last checkpoint, readable as it is; free some space and run again with --force to replace it$/);
  } finally {
    disk.unmount();
  }
});

test('a checkpoint torn between its writes is read by recovery, never through a footer whose batches are missing', () => {
  const dir = tmp();
  const path = join(dir, 't.arrow');
  const w = TraceWriter.create(path, header, progress(RunStatus.running), { batchRows: 64 });
  const p = w.probeId('loss'), m = w.metricId('loss');
  for (let s = 0; s < 300; s++) w.append(s, 1, 0, p, m, s);
  w.checkpoint(progress(RunStatus.running, 1));
  const first = readFileSync(path);
  for (let s = 300; s < 900; s++) w.append(s, 2, 0, p, m, s);
  w.close(progress(RunStatus.complete, 2));
  const full = readFileSync(path);
  const unmarked = (b: Buffer) => Buffer.concat([b.subarray(0, b.length - 6), Buffer.alloc(6)]);
  // a kill after the first write leaves the old file, then the new bytes beyond its end, unmarked
  const torn = join(dir, 'torn.arrow');
  writeFileSync(torn, unmarked(Buffer.concat([first, full.subarray(first.length)])));
  const t = readTrace(torn);
  assert.equal(t.recovered, true);
  assert.equal(t.status, 'running', 'not the complete status of a footer whose batches are not all there');
  assert.deepEqual(Array.from(t.columns.step), Array.from({ length: 300 }, (_, i) => i));
  // after the second write, before the closing magic: every batch is there
  writeFileSync(torn, unmarked(full));
  const u = readTrace(torn);
  assert.equal(u.recovered, true);
  assert.deepEqual(Array.from(u.columns.step), Array.from({ length: 900 }, (_, i) => i));
});

test('an empty or unreadable trace is redone by a rerun or a sweep, not called a conflict', async () => {
  const out = tmp();
  const path = join(out, 'relu-relu-relu_s1.arrow');
  writeFileSync(path, '');
  const plan = planSweep({ combos: ['relu-relu-relu'], seeds: [1], run: { ...quick, epochs: '1' }, out });
  assert.deepEqual([plan[0].action, plan[0].why], ['redo', 'empty file']);
  const r = await runCli(['run', 'relu-relu-relu', ...cliQuick, '--epochs', '1', '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(readTrace(path).status, 'complete');
  writeFileSync(path, 'ARROW1 but nothing else');
  assert.equal(planSweep({ combos: ['relu-relu-relu'], seeds: [1], run: { ...quick, epochs: '1' }, out })[0].action, 'redo');
  assert.equal((await runCli(['run', 'relu-relu-relu', ...cliQuick, '--epochs', '1', '--out', out])).status, 0);
  // a readable trace is still refused without --force
  const again = await runCli(['run', 'relu-relu-relu', ...cliQuick, '--epochs', '1', '--out', out]);
  assert.equal(again.status, 2);
  assert.match(again.stderr, /already exists: pass --force/);
});

test('--force replaces the old trace only when the new one finishes; interrupted, the old one stays', async () => {
  const out = tmp();
  const old = await runExperiment({ ...quick, combo: 'relu-relu-relu', epochs: '1' }, { out });
  const before = readFileSync(old.path);
  const ac = new AbortController();
  await assert.rejects(runExperiment({ ...quick, combo: 'relu-relu-relu', epochs: '3' }, {
    out, force: true, signal: ac.signal, listener: { onEpochEnd: () => ac.abort() },
  }), (e) => isProbeError(e) && e.code === 'E_INTERRUPTED' && e.message.includes(`(${old.path} is left as it was)`));
  assert.deepEqual(readFileSync(old.path), before, 'the old trace is untouched');
  assert.equal(readTrace(old.path + PARTIAL_SUFFIX).status, 'interrupted', 'the new, interrupted trace is kept beside it');
  const r = await runExperiment({ ...quick, combo: 'relu-relu-relu', epochs: '2' }, { out, force: true });
  assert.equal(r.path, old.path);
  assert.equal(readTrace(old.path).progress!.epochsDone, 2);
  assert.equal(existsSync(old.path + PARTIAL_SUFFIX), false);
});

test('a trace with broken metadata JSON is "not a probe trace" (exit 2), not an internal error', async () => {
  const path = join(tmp(), 'bad.arrow');
  writeFileSync(path, tableToIPC(new Table(traceSchema(new Map([[MetaKey.version, '1'], [MetaKey.facts, '{"run": ']]))), 'file'));
  const r = await runCli(['inspect', path]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr.trim(), /^error .*bad.arrow is not a probe trace: its metadata 'probe.facts' is not valid JSON/);
});

test('SIGTERM stops a run like Ctrl-C but exits 143; --json still prints the partial summary', async () => {
  const out = tmp();
  const child = spawn(process.execPath, [BIN, 'run', 'relu-sigmoid-relu', ...cliQuick, '--epochs', '100000', '--json', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  const path = join(out, 'relu-sigmoid-relu_s1.arrow');
  const deadline = Date.now() + 60_000;
  for (;;) {
    assert.ok(Date.now() < deadline, `no progress: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
    try { if ((readTrace(path).progress?.epochsDone ?? 0) >= 1) break; } catch { /* the first checkpoint is not there yet */ }
  }
  child.kill('SIGTERM');
  assert.equal(await exited, 143, stderr);
  const s = JSON.parse(stdout);
  assert.equal(s.status, 'interrupted');
  assert.ok(s.epochs.length >= 1);
  assert.equal(readTrace(path).status, 'interrupted');
});
