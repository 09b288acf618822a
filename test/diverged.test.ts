import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runExperiment, isProbeError } from '../src/index.js';
import { readTrace } from '../src/trace/reader.js';
import { MNIST_FILES } from '../src/train/data.js';
import { encodeIdx, IDX_IMAGES, IDX_LABELS } from '../src/train/idx.js';
import { planSweep } from '../src/sweep/sweep.js';
import { writeIndex } from '../src/sweep/sweep-index.js';
import { processFacts, TraceRecorder, UNKNOWN_EPOCH_CHECK } from '../src/trace/recorder.js';
import type { RunFacts } from '../src/trace/schema.js';
import { FIXTURES, runCli, tmp, useBackend } from './helpers.js';

before(() => useBackend('wasm'));
process.env.FORCE_COLOR = '0';
const quick = { dataDir: FIXTURES, backend: 'wasm', epochs: '3' };

test('weights that stop being finite end the run as diverged (trace, summary, index, sweep plan), not complete', async () => {
  const out = tmp();
  // one step per epoch (the fixture's 320 samples in one batch) and a learning rate that is
  // infinite in float32: the first update makes the weights non-finite after a finite loss, and
  // the epoch-end check sees them before any later loss could (NaN propagates through every
  // activation, so a loss at a later step would be NaN too)
  const diverge = { lr: '1e39', batch: '320' };
  const r = await runExperiment({ ...quick, combo: 'relu-relu-relu', ...diverge }, { out });
  assert.equal(r.status, 'diverged');
  assert.match(r.diverged!.reason, /^layer \d W holds (NaN|-?Infinity)$/);
  assert.equal(r.epochs.length, 0, 'the epoch in which it diverged is not reported as finished');
  const t = readTrace(r.path);
  assert.equal(t.status, 'diverged');
  assert.equal(t.truncated, false, 'a diverged run is final: a rerun would diverge again');
  assert.deepEqual(t.progress!.diverged, r.diverged);
  assert.equal(writeIndex(out)[0].status, 'diverged');
  const plan = planSweep({ combos: ['relu-relu-relu'], seeds: [1], run: { ...quick, ...diverge }, out });
  assert.equal(plan[0].action, 'skip');
  const cli = await runCli(['run', 'relu-relu-relu', '--data-dir', FIXTURES, '--backend', 'wasm', '--epochs', '3', '--lr', '1e39', '--batch', '320', '--quiet', '--out', out, '--force']);
  assert.equal(cli.status, 0, cli.stderr);
  assert.match(cli.stdout, /✘ relu-relu-relu seed 1 · diverged at step 0 \(layer \d W holds/);
  const inspect = await runCli(['inspect', r.path]);
  assert.match(inspect.stdout, /status: DIVERGED at step 0/);
  // export: its status column says diverged, not complete
  const csv = join(tmp(), 'runs.csv');
  assert.equal((await runCli(['export', r.path, '--csv', csv])).status, 0);
  const [head, ...rows] = readFileSync(csv, 'utf8').trimEnd().split('\n');
  const at = head.split(',').indexOf('status');
  assert.deepEqual([...new Set(rows.map((l) => l.split(',')[at]))], ['diverged']);
  const report = await runCli(['report', out, '--json', '--no-images']);
  assert.equal(report.status, 0, report.stderr);
  assert.equal(JSON.parse(report.stdout).diverged, 1);
  assert.match(report.stderr, /relu-relu-relu_s1.arrow diverged at step 0 \(layer \d W holds/);
});

test('a loss that stops being finite ends the run at that step', async () => {
  // lr 1e10, batch 8 (40 steps an epoch: the parameters are checked after the first step and every
  // 4th): the loss turns NaN at step 2, before the weights' next check (at 1e30, or with a check at
  // every step, their norm beyond float32 ends the run first)
  const r = await runExperiment({ ...quick, combo: 'relu-relu-relu', lr: '1e10', probes: 'loss', batch: '8' }, { out: tmp() });
  assert.equal(r.status, 'diverged');
  assert.match(r.diverged!.reason, /^loss (NaN|Infinity)$/);
  assert.equal(r.steps, r.diverged!.step + 1, 'no step after the one whose loss was not finite');
  assert.ok(r.steps < 10, `stopped within the first epoch, at step ${r.diverged!.step}`);
});

test('backends agree on overflow: wasm and cpu end a run whose weights blow past float32 at the same step, for the same reason', async () => {
  // lr 1e30: the weights stay finite but their norm does not (> 1.8e19), and later the backends
  // part (one turns the overflow into an infinite gradient, the other into a zero one)
  const seen: { status: string; step?: number; reason?: string; ratio: number[] }[] = [];
  for (const backend of ['wasm', 'cpu']) {
    await useBackend(backend as 'wasm' | 'cpu');
    try {
      const r = await runExperiment({ ...quick, backend, combo: 'relu-sigmoid-relu', lr: '1e30', batch: '32', epochs: '1', every: '1', probes: 'loss,gradients' }, { out: tmp() });
      const c = readTrace(r.path).columns;
      const ratio: number[] = [];
      for (let i = 0; i < c.length; i++) if (c.step[i] === 0 && c.metrics[c.metric[i]] === 'update_ratio') ratio.push(c.value[i]);
      seen.push({ status: r.status, step: r.diverged?.step, reason: r.diverged?.reason, ratio });
    } finally {
      await useBackend('wasm');
    }
  }
  assert.deepEqual(seen[1], seen[0], `wasm ${JSON.stringify(seen[0])} vs cpu ${JSON.stringify(seen[1])}`);
  assert.equal(seen[0].status, 'diverged');
  assert.equal(seen[0].step, 0);
  // the weights' own reason first (the figure that overflowed with them: update_ratio NaN)
  assert.match(seen[0].reason!, /^layer \d W has a norm beyond float32/);
  assert.ok(seen[0].ratio.some((v) => Number.isNaN(v)), `an overflowing update_ratio is NaN in the trace, not 0: ${seen[0].ratio}`);
});

test('backends agree on overflow without the gradients probe too: the weights\' norm beyond float32 ends the run at the first check', async () => {
  const seen: { status: string; step?: number; reason?: string }[] = [];
  for (const backend of ['wasm', 'cpu']) {
    await useBackend(backend as 'wasm' | 'cpu');
    try {
      const r = await runExperiment({ ...quick, backend, combo: 'relu-sigmoid-relu', lr: '1e30', batch: '32', epochs: '1', probes: 'loss' }, { out: tmp() });
      seen.push({ status: r.status, step: r.diverged?.step, reason: r.diverged?.reason });
    } finally {
      await useBackend('wasm');
    }
  }
  assert.deepEqual(seen[1], seen[0], `wasm ${JSON.stringify(seen[0])} vs cpu ${JSON.stringify(seen[1])}`);
  assert.equal(seen[0].status, 'diverged');
  assert.equal(seen[0].step, 0);
  assert.match(seen[0].reason!, /^layer \d W has a norm beyond float32 \(\d\.\d\de\+\d+\)$/);
});

test('an empty training or test set is an error naming the file, not a complete run of 0 steps', async () => {
  for (const split of ['train', 'test'] as const) {
    const dir = tmp();
    for (const f of Object.values(MNIST_FILES)) copyFileSync(join(FIXTURES, f), join(dir, f));
    const [images, labels] = split === 'train' ? [MNIST_FILES.trainImages, MNIST_FILES.trainLabels] : [MNIST_FILES.testImages, MNIST_FILES.testLabels];
    writeFileSync(join(dir, images), encodeIdx(IDX_IMAGES, [0, 28, 28], new Uint8Array(0)));
    writeFileSync(join(dir, labels), encodeIdx(IDX_LABELS, [0], new Uint8Array(0)));
    await assert.rejects(runExperiment({ ...quick, dataDir: dir, combo: 'relu-relu-relu' }, { out: tmp() }),
      (e) => isProbeError(e) && e.exitCode === 2 && e.message === `${join(dir, images)} holds no samples: training and testing need at least one each`);
  }
});

test('the step a run diverges at does not depend on the clock: a checkpoint every step or every 10 s, the same step', () => {
  // weights that stop being finite after step 5 of an epoch of 100 steps (windows of 10): the check
  // runs at the first step and at each window's end, whatever the checkpoints do; an epoch of
  // unknown length is checked every UNKNOWN_EPOCH_CHECK steps
  const divergedAt = (checkpointSeconds: number, stepsPerEpoch: number | null) => {
    const rec = new TraceRecorder({
      path: join(tmp(), 'x.arrow'), run: 'x', force: false, lock: false, checkpointSeconds,
      slots: [{ layer: 0, probe: 'loss', metric: 'loss', window: false }],
      config: () => ({ source: 'test' }), facts: () => ({ ...processFacts(), combo: 'x', seed: 1, stepsPerEpoch: 0, layers: [] }) as unknown as RunFacts,
    });
    if (stepsPerEpoch) rec.setStepsPerEpoch(stepsPerEpoch);
    for (let s = 0; s < 300 && !rec.halted; s++) {
      rec.loss(s, 1);
      rec.stepDone(1, () => (s >= 5 ? 'layer 1 W holds NaN' : null));
    }
    assert.equal(rec.close('complete'), 'diverged');
    return rec.divergence;
  };
  assert.deepEqual(divergedAt(0, 100), { step: 9, reason: 'layer 1 W holds NaN' });
  assert.deepEqual(divergedAt(10, 100), { step: 9, reason: 'layer 1 W holds NaN' });
  assert.deepEqual(divergedAt(0, null), { step: UNKNOWN_EPOCH_CHECK - 1, reason: 'layer 1 W holds NaN' });
  assert.deepEqual(divergedAt(10, null), { step: UNKNOWN_EPOCH_CHECK - 1, reason: 'layer 1 W holds NaN' });
});
