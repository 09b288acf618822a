import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runExperiment } from '../src/experiment/run.js';
import { isProbeError } from '../src/errors.js';
import { readTrace, readTraceMeta, type Trace } from '../src/trace/reader.js';
import { RESUME_SUFFIX } from '../src/trace/resume-state.js';
import { RunProbe } from '../src/trace/schema.js';
import { BIN, FIXTURES, runCli, tmp } from './helpers.js';

// 40 steps an epoch (batch 8 of the fixture's 320 images): unit-activity windows of 4 steps, so an
// interruption can fall inside a window; probes every 3rd step, so inside a sampling period too
const settings = { combo: 'relu-sigmoid-relu', dataDir: FIXTURES, backend: 'wasm', epochs: 3, batch: 8, every: 3, testLimit: 64 } as const;

/** Every row but the timing rows (seconds are never the same twice), in file order. */
function rows(t: Trace): string[] {
  const c = t.columns, timing = c.probes.indexOf(RunProbe.timing), out: string[] = [];
  for (let i = 0; i < c.length; i++) if (c.probe[i] !== timing) out.push(`${c.step[i]} ${c.epoch[i]} ${c.layer[i]} ${c.probes[c.probe[i]]} ${c.metrics[c.metric[i]]} ${c.value[i]}`);
  return out;
}

function assertSameTrace(resumed: Trace, whole: Trace): void {
  const a = rows(resumed), b = rows(whole);
  assert.equal(a.length, b.length, 'as many rows');
  const first = a.findIndex((r, i) => r !== b[i]);
  assert.equal(first, -1, first >= 0 ? `row ${first}: ${a[first]} ≠ ${b[first]}` : '');
  assert.equal(resumed.status, 'complete');
  assert.deepEqual(resumed.progress?.final?.means, whole.progress?.final?.means, 'the footer figures a sweep index reads');
  assert.equal(resumed.progress?.final?.testAcc, whole.progress?.final?.testAcc);
  assert.equal(resumed.config.configHash, whole.config.configHash);
}

let reference: Trace | null = null;
/** The same settings run in one go. */
async function whole(): Promise<Trace> {
  if (!reference) reference = readTrace((await runExperiment(settings, { out: tmp() })).path);
  return reference;
}

test('a run interrupted mid-epoch and run again resumes from where it stopped and writes the trace one run in one go writes', async () => {
  const out = tmp();
  const ac = new AbortController();
  let steps = 0;
  // step 46: epoch 2, inside a unit-activity window and between two probed steps
  await assert.rejects(runExperiment(settings, { out, signal: ac.signal, listener: { onStepEnd: () => { if (++steps === 46) ac.abort(); } } }),
    (e: unknown) => isProbeError(e) && e.code === 'E_INTERRUPTED' && /interrupted after 46 steps; .*; the same command resumes it from there/.test(e.message));
  const path = join(out, 'relu-sigmoid-relu_s1.arrow');
  assert.equal(readTraceMeta(path).status, 'interrupted');
  assert.ok(existsSync(path + RESUME_SUFFIX), 'the state to resume from is beside the trace');
  const begun: { step: number; epoch: number; stepInEpoch: number }[] = [];
  const r = await runExperiment(settings, { out, listener: { onRunBegin: (i) => { if (i.resumed) begun.push(i.resumed); } } });
  assert.equal(r.status, 'complete');
  assert.equal(r.resumedFrom, 46);
  assert.deepEqual(begun.map((b) => [b.step, b.epoch, b.stepInEpoch]), [[46, 2, 6]]);
  assert.deepEqual(r.epochs.map((e) => e.epoch), [1, 2, 3], 'the summary lists the epochs done before too');
  assert.equal(existsSync(path + RESUME_SUFFIX), false, 'a finished run leaves no state behind');
  const t = readTrace(path);
  assert.deepEqual(t.facts.resumed?.map((x) => x.step), [46]);
  assertSameTrace(t, await whole());
});

test('a run that dies between checkpoints resumes from its last one, dropping the rows written after it', async () => {
  const out = tmp();
  let steps = 0;
  // a checkpoint after every step; the failure comes after step 58 is recorded but before it is done
  await assert.rejects(runExperiment(settings, { out, checkpointSeconds: 0, listener: { onStepEnd: () => { if (++steps === 58) throw new Error('power cut'); } } }), /power cut/);
  const path = join(out, 'relu-sigmoid-relu_s1.arrow');
  assert.equal(readTraceMeta(path).status, 'failed');
  const r = await runExperiment(settings, { out });
  assert.equal(r.resumedFrom, 57, 'the last checkpoint was after step 57');
  assertSameTrace(readTrace(path), await whole());
});

const children = new Set<ReturnType<typeof spawn>>();
after(() => children.forEach((c) => c.kill('SIGKILL')));

test('probe run killed with SIGKILL after an epoch resumes on the next probe run, and the trace is the uninterrupted one', async () => {
  const out = tmp(), hold = join(tmp(), 'hold');
  writeFileSync(hold, '0');
  const args = ['run', settings.combo, '--data-dir', FIXTURES, '--backend', 'wasm', '--epochs', '3', '--batch', '8', '--every', '3', '--test-limit', '64', '--out', out, '--quiet'];
  const child = spawn(process.execPath, [BIN, ...args], { stdio: 'ignore', env: { ...process.env, PROBE_HOLD_EPOCHS: hold } });
  children.add(child);
  const path = join(out, 'relu-sigmoid-relu_s1.arrow');
  const deadline = Date.now() + 120_000;
  // held after epoch 1's checkpoint (and its resume state)
  while (!(existsSync(path + RESUME_SUFFIX) && readTraceMeta(path).progress?.epochsDone === 1)) {
    assert.ok(Date.now() < deadline, 'the run finishes its first epoch');
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));
  const r = await runCli(args);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /complete · 120 steps in .* \(resumed at step 40\)/);
  assertSameTrace(readTrace(path), await whole());
  // a finished trace is not resumed again: the same command is refused, --force starts over
  const again = await runCli(args);
  assert.equal(again.status, 2);
  assert.match(again.stderr, /already exists: pass --force/);
});

test('a resumed run keeps the backend its steps ran on; --force starts over instead of resuming', async () => {
  const out = tmp(), ac = new AbortController();
  let steps = 0;
  await assert.rejects(runExperiment(settings, { out, signal: ac.signal, listener: { onStepEnd: () => { if (++steps === 10) ac.abort(); } } }));
  await assert.rejects(runExperiment({ ...settings, backend: 'cpu' }, { out }),
    (e: unknown) => isProbeError(e) && /unfinished run whose steps so far ran on the wasm backend: resume it with options\.backend wasm \(or auto\), or pass \{ force: true \} to start it over on cpu/.test(e.message));
  const r = await runExperiment({ ...settings, epochs: 1 }, { out: tmp() });
  assert.equal(r.resumedFrom, null);
  const forced = await runExperiment(settings, { out, force: true });
  assert.equal(forced.resumedFrom, null);
  assert.equal(forced.status, 'complete');
  assertSameTrace(readTrace(forced.path), await whole());
});
