import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import yargs from 'yargs';
import { trainingOptions } from '../src/cli/run.js';
import { readTraceMeta } from '../src/trace/reader.js';
import { BIN, FIXTURES, tmp } from './helpers.js';

/** Every `probe run` flag with a value other than its default, and where the trace's config records it. */
const FLAGS: readonly (readonly [flag: string, value: string, path: string, expected: unknown])[] = [
  ['--epochs', '2', 'epochs', 2],
  ['--lr', '0.02', 'lr', 0.02],
  ['--momentum', '0.8', 'momentum', 0.8],
  ['--batch', '64', 'batch', 64],
  ['--hidden', '20,12', 'hidden', [20, 12]],
  ['--train-limit', '256', 'trainLimit', 256],
  ['--test-limit', '100', 'testLimit', 100],
  ['--dataset', 'fashion-mnist', 'dataset', 'fashion-mnist'],
  ['--data-dir', FIXTURES, 'dataDir', FIXTURES],
  ['--bn', 'last', 'bn', 'last'],
  ['--intervention', 'out-bias', 'intervention', 'out-bias'],
  ['--backend', 'wasm', 'backend', 'wasm'],
  ['--engine', 'tape', 'engine', 'tape'],
  ['--probes', 'saturation,dead-relu', 'probes', ['saturation', 'dead-relu']],
  ['--every', '2', 'every', 2],
  ['--distribution-every', '3', 'thresholds.distributionEvery', 3],
  ['--sigmoid-low', '0.05', 'thresholds.sigmoidLow', 0.05],
  ['--sigmoid-high', '0.9', 'thresholds.sigmoidHigh', 0.9],
  ['--tanh-sat', '0.95', 'thresholds.tanhSat', 0.95],
  ['--selu-sat', '0.9', 'thresholds.seluSat', 0.9],
  ['--warn-when', 'saturation:0.9:50', 'rules.0', { rule: 'saturation', action: 'warn', threshold: 0.9, patience: 50 }],
  ['--stop-when', 'dead-output', 'rules.1', { rule: 'dead-output', action: 'stop', threshold: 0.5, patience: 200 }],
];
const at = (o: unknown, path: string) => path.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown>)[k], o);

test('the flag table covers every training flag `probe sweep` shares with `probe run`', () => {
  // yargs has getOptions() at runtime; its type declarations leave it out
  const y = trainingOptions(yargs([])) as unknown as { getOptions(): { key: Record<string, unknown> } };
  const options = Object.keys(y.getOptions().key);
  const notRunSettings = new Set(['help', 'version', 'force', 'seed']); // --seed is --seeds in a sweep
  assert.deepEqual(FLAGS.map(([f]) => f.slice(2)).sort(), options.filter((o) => !notRunSettings.has(o)).sort());
});

test('every `probe run` flag given to `probe sweep` reaches the trace’s config (thresholds included), and the same sweep again redoes nothing', () => {
  // through the real binary: the sweep plans the run and hands it to a worker process over IPC
  const out = tmp();
  const args = [BIN, 'sweep', '--combos', 'tanh-selu-sigmoid', '--seeds', '4', '--workers', '1', '--json', '--out', out, ...FLAGS.flatMap(([f, v]) => [f, v])];
  const first = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' } });
  assert.equal(first.status, 0, first.stderr);
  assert.equal(JSON.parse(first.stdout).completed, 1, first.stdout);
  const traces = readdirSync(out).filter((f) => f.endsWith('.arrow'));
  assert.equal(traces.length, 1, traces.join(', '));
  // read back typed: a RunConfig whose stored hash still matches (trace/stored-config.ts)
  const stored = readTraceMeta(join(out, traces[0])).config;
  assert.equal(stored.source, 'probe');
  const config = stored.run!;
  assert.ok(config, 'the stored config reads back as a RunConfig');
  for (const [flag, value, path, expected] of FLAGS) assert.deepEqual(at(config as unknown as Record<string, unknown>, path), expected, `${flag} ${value} is recorded as ${path}`);
  assert.equal(config.seed, 4);
  assert.equal(config.combo, 'tanh-selu-sigmoid');
  // settings recorded as given also hash as given: no "config hash differs" on the rerun
  const again = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' } });
  assert.equal(again.status, 0, again.stderr);
  const summary = JSON.parse(again.stdout);
  assert.deepEqual([summary.skipped, summary.completed, summary.failed.length], [1, 0, 0], again.stdout);
});
