import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { loadDataset } from '../src/train/data.js';
import { workerCount } from '../src/sweep/sweep.js';
import { msg } from '../src/messages.js';
import { writeSyntheticTrace } from './synthetic.js';
import { FIXTURES, runCli, tmp } from './helpers.js';

process.env.FORCE_COLOR = '0';
const cliQuick = ['--data-dir', FIXTURES, '--backend', 'wasm', '--quiet', '--epochs', '1'];

async function oneLine(args: string[], re: RegExp) {
  const r = await runCli(args);
  assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status} ${r.stderr}`);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr.trim(), re);
  return r;
}

test('messages name the flag and the value: --acts, --shard -1/3, inspect of a folder, CIFAR without a folder', async () => {
  await oneLine(['sweep', '--acts', 'relu,gelu', '--out', tmp()], /^error --acts: unknown activation 'gelu' in 'relu,gelu'/);
  await oneLine(['sweep', '--shard', '-1/3', '--out', tmp()], /^error --shard must be i\/N .*got '-1\/3'/);
  const dir = tmp();
  await oneLine(['inspect', dir], new RegExp(`^error ${dir} is a folder, not a trace file`));
  await oneLine(['run', 'relu-relu-relu', '--dataset', 'cifar10', '--backend', 'wasm', '--out', tmp()], /^error CIFAR-10 ships with no package, so it needs --data-dir: give --data-dir/);
});

test("--out '' is refused instead of meaning the current folder", async () => {
  for (const args of [['run', 'relu-relu-relu', ...cliQuick], ['report', tmp()], ['sweep']]) {
    await oneLine([...args, '--out', ''], /^error --out must name a folder, got ''/);
  }
});

test('a CIFAR batch that is a folder, and a model too large for memory, are user errors (exit 2), not internal ones', async () => {
  const dir = tmp();
  mkdirSync(join(dir, 'data_batch_1.bin'));
  for (const k of [2, 3, 4, 5]) writeFileSync(join(dir, `data_batch_${k}.bin`), Buffer.alloc(3073));
  writeFileSync(join(dir, 'test_batch.bin'), Buffer.alloc(3073));
  assert.throws(() => loadDataset({ dataset: 'cifar10', dataDir: dir }), (e: Error & { exitCode?: number }) => e.exitCode === 2 && /data_batch_1.bin is not a file \(a folder\?\)/.test(e.message));
  const out = tmp();
  await oneLine(['run', 'relu-relu', ...cliQuick, '--hidden', '100000000', '--out', out], /^error a 784-100000000-10 model has 79,500,000,010 parameters and needs about \d+\.\d GiB, more than the 4.0 GiB the wasm backend can address: choose smaller --hidden widths/);
  assert.deepEqual(readdirSync(out), []);
  // auto may pick wasm, so wasm's limit holds, and the message says whose limit it is, not 'this machine's'
  await oneLine(['run', 'relu-relu', '--data-dir', FIXTURES, '--backend', 'auto', '--quiet', '--epochs', '1', '--hidden', '100000000', '--out', out], /more than the 4.0 GiB the wasm backend can address \(--backend auto may pick it; --backend node or cpu have this machine's memory\): choose smaller --hidden widths$/);
});

test('report: a failed report leaves no folder; --force drops the charts of the report it replaces', async () => {
  const dir = tmp();
  writeFileSync(join(dir, 'junk.arrow'), 'not arrow');
  const out = join(tmp(), 'report');
  await oneLine(['report', join(dir, 'junk.arrow'), '--out', out], /junk.arrow is not a probe trace/);
  assert.equal(existsSync(out), false, 'no empty report folder');
  const runs = tmp();
  writeSyntheticTrace(runs, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.3, deadRows: 0.5 });
  assert.equal((await runCli(['report', runs, '--no-images', '--out', out])).status, 0);
  // as if the previous report had been drawn with images, and had a chart this one does not draw
  for (const f of ['run-training.svg', 'run-training.png', 'gone.vl.json', 'gone.svg', 'notes.txt']) writeFileSync(join(out, f), 'x');
  assert.equal((await runCli(['report', runs, '--no-images', '--force', '--out', out])).status, 0);
  const files = readdirSync(out);
  for (const f of ['run-training.svg', 'run-training.png', 'gone.vl.json', 'gone.svg']) assert.ok(!files.includes(f), `${f} removed`);
  assert.ok(files.includes('run-training.vl.json') && files.includes('notes.txt'), 'the new charts and files not ours stay');
});

test('compare: --html naming a folder, --epochs no run finished, and runs of different shapes', async () => {
  const dir = tmp();
  const a = writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.3, epochs: 3 });
  const b = writeSyntheticTrace(dir, { combo: 'relu-tanh-relu', seed: 1, acc: 0.5, epochs: 3 });
  const folder = join(tmp(), 'page');
  mkdirSync(folder);
  await oneLine(['compare', a, b, '--html', folder, '--force'], new RegExp(`^error --html ${folder} is a folder: give a file name for the page`));
  assert.deepEqual(readdirSync(join(folder, '..')), ['page'], 'no page.tmp left');
  await oneLine(['compare', a, b, '--epochs', '99'], /^error --epochs 99: no run finished epoch 99 \(the runs finished epochs 1 to 3\)/);
  const other = tmp();
  const c = writeSyntheticTrace(other, { combo: 'relu-relu', seed: 1, acc: 0.5, epochs: 3 });
  const r = await runCli(['compare', a, c]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /warning the runs have different layer sizes \(784→500→256→10 vs 784→500→256\): their rows pair layers by number/);
});

test('--workers: never more workers than runs pending, and the sweep says how many it starts', async () => {
  const out = tmp();
  assert.equal((await runCli(['run', 'relu-relu-relu', ...cliQuick, '--out', out])).status, 0);
  const r = await runCli(['sweep', '--combos', 'relu-relu-relu', '--seeds', '1', '--workers', '100', ...cliQuick.filter((a) => a !== '--quiet'), '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /0 to run, 0 to redo \(truncated or unreadable\), 1 already finished · 0 worker\(s\)/);
  assert.equal(workerCount(100, 12), 12);
  assert.equal(workerCount(undefined, 100), availableParallelism());
  assert.equal(workerCount(4, 0), 0);
  assert.match(msg.manyWorkers(12, 2), /^12 workers on 2 cores: runs will take turns/);
});

test("--combos '' is refused, never read as every combination: sweep (running or emitting a job) and compare", async () => {
  const out = tmp();
  // emitting first: a sweep that took '' for all would print a job here, not train 576 runs
  for (const combos of ['', ' , ']) {
    await oneLine(['sweep', '--combos', combos, '--emit', 'slurm', '--out', out], /^error --combos must name at least one pattern \(e\.g\. '\*-sigmoid-relu'\), got '.*'; leave it out for all 64 combinations$/);
    await oneLine(['sweep', '--combos', combos, ...cliQuick, '--out', out], /^error --combos must name at least one pattern/);
  }
  assert.deepEqual(readdirSync(out), [], 'nothing run');
  const runs = tmp();
  writeSyntheticTrace(runs, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.3 });
  await oneLine(['compare', runs, '--combos', ''], /^error --combos must name at least one pattern .*; leave it out for every run$/);
});

test('one rule for every reader: a file in a folder that is not a readable trace is skipped with a counted warning; one named is an error', async () => {
  const dir = tmp();
  writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.3, deadRows: 0.5 });
  writeSyntheticTrace(dir, { combo: 'relu-tanh-relu', seed: 1, acc: 0.9 });
  writeFileSync(join(dir, 'junk.arrow'), 'not arrow');
  writeFileSync(join(dir, 'empty.arrow'), '');
  spawnSync('mkfifo', [join(dir, 'pipe.arrow')]);
  const warning = /^warning skipped 3 of 5 trace file\(s\) found that cannot be read: .*empty\.arrow is not a probe trace: not an Arrow IPC file.*; .*junk\.arrow is not a probe trace/m;
  const report = await runCli(['report', dir, '--no-images', '--json', '--out', join(tmp(), 'r')]);
  assert.equal(report.status, 0, report.stderr);
  assert.match(report.stderr, warning);
  assert.equal(JSON.parse(report.stdout).runs, 2);
  const compare = await runCli(['compare', dir]);
  assert.equal(compare.status, 0, compare.stderr);
  assert.match(compare.stderr, warning);
  const exported = await runCli(['export', dir, '--csv', join(tmp(), 'a.csv')]);
  assert.equal(exported.status, 0, exported.stderr);
  assert.match(exported.stderr, warning);
  assert.match(exported.stdout, /2 run\(s\)/);
  // named, it is an error in every reader
  const good = join(dir, 'relu-tanh-relu_s1.arrow');
  for (const args of [['report', good, join(dir, 'junk.arrow'), '--out', join(tmp(), 'r')], ['compare', good, join(dir, 'junk.arrow')], ['export', good, join(dir, 'junk.arrow'), '--csv', join(tmp(), 'b.csv')], ['inspect', join(dir, 'junk.arrow')]]) {
    await oneLine(args, /junk\.arrow is not a probe trace: not an Arrow IPC file/);
  }
  // what it is, not 'no such trace file'; a FIFO does not block
  await oneLine(['inspect', '/dev/null'], /^error \/dev\/null is not a probe trace: it is a device, not a file$/);
  await oneLine(['inspect', join(dir, 'pipe.arrow')], /pipe\.arrow is not a probe trace: it is a FIFO \(named pipe\), not a file$/);
  await oneLine(['inspect', join(dir, 'nope.arrow')], /^error no such trace file: .*nope\.arrow$/);
  // a folder of nothing readable
  const junkOnly = tmp();
  writeFileSync(join(junkOnly, 'junk.arrow'), 'not arrow');
  await oneLine(['report', junkOnly, '--out', join(tmp(), 'r')], /^error no readable trace in .*: the 1 file\(s\) found cannot be read \(.*junk\.arrow is not a probe trace/);
});
