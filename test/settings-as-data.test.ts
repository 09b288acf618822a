import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import * as tf from '@tensorflow/tfjs';
import { attachProbes } from '../src/attach/session.js';
import { compareTraces } from '../src/compare/compare.js';
import { collectTraces } from '../src/read/folder.js';
import { writeIndex } from '../src/sweep/sweep-index.js';
import { INDEX_FILE } from '../src/read/folder.js';
import { SETTINGS } from '../src/read/settings.js';
import { FIXTURES, runCli, tmp, useBackend, hasPythonModule as hasModule, pythonJson as py } from './helpers.js';


const small = ['--data-dir', FIXTURES, '--backend', 'wasm', '--quiet', '--test-limit', '64'];
let dir = '';

// three runs of one combination that differ in their settings, as README's loop makes them (a
// 2-epoch run, a 1-epoch look at lr 0.02 on 96 samples beside it, another seed at 1 epoch), and an
// attached model trained with Adam
before(async () => {
  await useBackend('wasm');
  dir = tmp();
  for (const args of [['--epochs', '2'], ['--epochs', '1', '--lr', '0.02', '--train-limit', '96'], ['--epochs', '1', '--seed', '2']]) {
    const r = await runCli(['run', 'relu-sigmoid-relu', ...small, '--out', dir, ...args]);
    assert.equal(r.status, 0, r.stderr);
  }
  const model = tf.sequential({ name: 'adam-net', layers: [tf.layers.dense({ inputShape: [4], units: 6, activation: 'relu' }), tf.layers.dense({ units: 3, activation: 'softmax' })] });
  model.compile({ optimizer: tf.train.adam(0.003), loss: 'categoricalCrossentropy' });
  const s = attachProbes(model, { out: dir });
  await model.fit(tf.ones([8, 4]), tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32'), 3), { epochs: 2, batchSize: 4, verbose: 0, callbacks: [s.callback] });
  s.close();
  model.dispose();
});

test('probe export writes each run\'s settings as columns: DuckDB groups by them, Polars reads their types and nulls', async (t) => {
  const file = join(tmp(), 'runs.parquet');
  const r = await runCli(['export', dir, '--parquet', file]);
  assert.equal(r.status, 0, r.stderr);
  if (!hasModule('duckdb')) return t.skip('duckdb could not be installed (scripts/python-env.sh)');
  const d = py(`
import json, sys, duckdb
F = "'" + sys.argv[1] + "'"
q = lambda s: duckdb.sql(s.replace("F", F)).fetchall()
print(json.dumps({
  "cols": [c[0] for c in q("describe select * from F")],
  "groups": q("select combo, lr, epochs, train_limit, count(distinct run), count(distinct settings_hash) from F group by all order by all"),
  "pooled": q("select combo, count(distinct run) from F group by combo, settings_hash order by all"),
  "attached": q("select distinct lr, momentum, batch, epochs, train_limit, engine, optimizer, hidden, dataset from F where engine = 'attach'"),
  "probe": q("select distinct momentum, batch, engine, optimizer, hidden, every, backend from F where engine = 'fast'"),
}))`, file);
  for (const c of ['lr', 'momentum', 'batch', 'epochs', 'train_limit', 'test_limit', 'engine', 'config_hash', 'hidden', 'every', 'optimizer', 'settings_hash', 'dataset', 'bn', 'backend']) assert.ok(d.cols.includes(c), c);
  // the 100-step look stays apart from the 2-epoch run, and the seeds of one setting are one group
  assert.deepEqual(d.groups, [
    ['adam-net', 0.003, 2, null, 1, 1],
    ['relu-sigmoid-relu', 0.01, 1, null, 1, 1],
    ['relu-sigmoid-relu', 0.01, 2, null, 1, 1],
    ['relu-sigmoid-relu', 0.02, 1, 96, 1, 1],
  ]);
  assert.deepEqual(d.pooled, [['adam-net', 1], ['relu-sigmoid-relu', 1], ['relu-sigmoid-relu', 1], ['relu-sigmoid-relu', 1]]);
  // what an attached model's trace does not say is null, not the study's value
  assert.deepEqual(d.attached.map((a: unknown[]) => a.slice(1)), [[null, 4, 2, null, 'attach', 'Adam', null, null]]);
  assert.deepEqual(d.probe, [[0.5, 32, 'fast', 'SGD', '500,256', 10, 'wasm']]);
  if (!hasModule('polars')) return t.skip('polars could not be installed (scripts/python-env.sh)');
  const p = py(`
import json, sys, polars as pl
t = pl.read_parquet(sys.argv[1])
print(json.dumps({"types": {c: str(t.schema[c]) for c in ["lr", "momentum", "batch", "epochs", "train_limit", "every", "engine", "settings_hash"]},
  "nulls": t.group_by("engine").agg(pl.col("momentum").null_count(), pl.col("train_limit").null_count(), pl.len()).sort("engine").rows()}))`, file);
  assert.deepEqual(p.types, { lr: 'Float64', momentum: 'Float64', batch: 'Int32', epochs: 'Int32', train_limit: 'Int32', every: 'Int32', engine: 'Categorical', settings_hash: 'Categorical' });
  const [attach, fast] = p.nulls as [string, number, number, number][];
  assert.equal(attach[1], attach[3], 'momentum: null on every row of the Adam run');
  assert.equal(fast[1], 0);
  assert.ok(fast[2] > 0 && fast[2] < fast[3], 'train_limit: null on the runs that used all samples only');
});

test('the sweep index has the settings as columns', () => {
  writeIndex(dir);
  const idx = tableFromIPC(readFileSync(join(dir, INDEX_FILE)));
  // get(i), not toArray(): the latter reads the values under nulls
  const col = (k: string) => Array.from({ length: idx.numRows }, (_, i) => idx.getChild(k)?.get(i));
  for (const k of SETTINGS) if (k !== 'config_hash' && k !== 'backend' && k !== 'epochs') assert.ok(idx.getChild(k), k);
  const runs = col('run') as string[];
  const at = (run: string, k: string) => col(k)[runs.indexOf(run)];
  const look = runs.find((r) => /^relu-sigmoid-relu_s1_[0-9a-f]{8}$/.test(r))!;
  assert.equal(at(look, 'lr'), 0.02);
  assert.equal(at(look, 'train_limit'), 96);
  assert.equal(at('relu-sigmoid-relu_s1', 'train_limit'), null);
  assert.equal(at('adam-net', 'optimizer'), 'Adam');
  assert.equal(idx.schema.metadata.get('probe.index_version'), '3');
});

test('probe compare --by groups runs by the settings given, and says what else differs inside a group', async () => {
  const paths = collectTraces([dir]).filter((p) => !p.includes('adam-net'));
  const c = compareTraces(paths, { by: ['lr'] });
  assert.deepEqual(c.groups.map((g) => [g.label, g.runs.length]), [['lr=0.01 (2 runs)', 2], ['lr=0.02 (1 run)', 1]]);
  assert.deepEqual(c.configDiffs, [{ key: 'lr', values: ['0.01', '0.02'] }]);
  assert.ok(c.warnings.some((w) => /^lr=0\.01 \(2 runs\) pools runs whose epochs differs: add it to --by to keep them apart$/.test(w)), c.warnings.join('\n'));
  const r = await runCli(['compare', dir, '--combos', 'relu-sigmoid-relu', '--by', 'lr,epochs']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /lr=0\.01 · epochs=2 \(1 run\)/);
  const bad = await runCli(['compare', dir, '--by', 'lrr']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--by: 'lrr' is not a setting \(did you mean 'lr'\?\); group by any of combo, seed, lr, momentum/);
});

test('probe report --by keeps runs of other settings apart: a variant per value', async () => {
  const r = await runCli(['report', dir, '--by', 'epochs', '--no-images', '--json', '--out', join(tmp(), 'report')]);
  assert.equal(r.status, 0, r.stderr);
  const v = JSON.parse(r.stdout) as { hypotheses: { variant: string }[] };
  assert.deepEqual([...new Set(v.hypotheses.map((h) => h.variant))].sort(), ['mnist · epochs=1', 'mnist · epochs=2']);
});
