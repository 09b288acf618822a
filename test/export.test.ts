import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { readTrace } from '../src/trace/reader.js';
import { collectTraces, INDEX_FILE, LEGACY_INDEX_FILE } from '../src/read/folder.js';
import { writeIndex } from '../src/sweep/sweep-index.js';
import { writeSyntheticTrace } from './synthetic.js';
import { FIXTURES, tmp, probeCli as probe, PYTHON as python, hasPythonModule as hasModule, pythonJson as py } from './helpers.js';

const small = ['--data-dir', FIXTURES, '--backend', 'wasm', '--quiet', '--epochs', '1'];

let runs = '';
before(() => {
  runs = tmp();
  const r = probe(['sweep', '--combos', 'relu-sigmoid-relu,tanh-sigmoid-relu', '--seeds', '1-2', '--workers', '1', '--out', runs, ...small]);
  assert.equal(r.status, 0, r.stderr);
});

/** What the traces hold, read by our own reader: rows and value sums per run. */
function ours(dir: string) {
  const per = new Map<string, { rows: number; sum: number; combo: string; acts: string[] }>();
  for (const p of collectTraces([dir])) {
    const t = readTrace(p);
    per.set(t.run, { rows: t.columns.length, sum: t.columns.value.reduce((s, v) => s + v, 0), combo: t.facts.combo, acts: t.facts.layers.map((l) => l.activation) });
  }
  return per;
}

test('the sweep index stays out of the traces\' glob; run is dictionary-encoded in both', () => {
  const files = readdirSync(runs).sort();
  assert.deepEqual(files.filter((f) => f.endsWith('.arrow')).length, 4, files.join(' '));
  assert.ok(files.includes(INDEX_FILE));
  const idx = tableFromIPC(readFileSync(join(runs, INDEX_FILE)));
  assert.equal(idx.numRows, 4);
  assert.equal(String(idx.schema.fields.find((f) => f.name === 'run')!.type), 'Dictionary<Int32, Utf8>');
  const trace = tableFromIPC(readFileSync(join(runs, 'relu-sigmoid-relu_s1.arrow')));
  assert.match(String(trace.schema.fields.find((f) => f.name === 'run')!.type), /^Dictionary<Int\d+, Utf8>$/);
});

test('a folder written before keeps working: its index.arrow is read, then replaced on rebuild', () => {
  const dir = tmp();
  for (const f of readdirSync(runs).filter((f) => f.endsWith('.arrow'))) copyFileSync(join(runs, f), join(dir, f));
  copyFileSync(join(runs, INDEX_FILE), join(dir, LEGACY_INDEX_FILE));
  assert.equal(collectTraces([dir]).length, 4, 'the legacy index is not taken for a trace');
  assert.equal(collectTraces([join(dir, LEGACY_INDEX_FILE)]).length, 4, 'the legacy index lists the traces');
  writeIndex(dir);
  assert.ok(!existsSync(join(dir, LEGACY_INDEX_FILE)));
  assert.ok(existsSync(join(dir, INDEX_FILE)));
  // a user's own file of that name that is not an index stays
  writeFileSync(join(dir, LEGACY_INDEX_FILE), 'mine');
  writeIndex(dir);
  assert.equal(readFileSync(join(dir, LEGACY_INDEX_FILE), 'utf8'), 'mine');
});

test('pyarrow.dataset reads a sweep folder as one table, Polars scans runs/*.arrow and joins the index', (t) => {
  if (!hasModule('pyarrow')) return t.skip('no Python with pyarrow (scripts/python-env.sh prepares one)');
  const want = ours(runs);
  const a = py(`
import json, sys, pyarrow.dataset as ds
t = ds.dataset(sys.argv[1], format="arrow").to_table()
g = t.to_pandas().groupby("run", observed=True)["value"].agg(["count", "sum"])
print(json.dumps({"columns": t.column_names, "runs": {r: [int(n), float(s)] for r, (n, s) in g.iterrows()}}))`, runs);
  assert.deepEqual(a.columns, ['run', 'step', 'epoch', 'layer', 'probe', 'metric', 'value']);
  assert.deepEqual(Object.keys(a.runs).sort(), [...want.keys()].sort());
  for (const [run, w] of want) {
    assert.equal(a.runs[run][0], w.rows, run);
    assert.ok(Math.abs(a.runs[run][1] - w.sum) <= 1e-5 * Math.abs(w.sum) + 1e-5, `${run}: ${a.runs[run][1]} vs ${w.sum}`);
  }
  if (!hasModule('polars')) return t.skip('polars could not be installed (scripts/python-env.sh)');
  const p = py(`
import json, sys, polars as pl
t = pl.scan_ipc(sys.argv[1] + "/*.arrow").collect()
idx = pl.read_ipc(sys.argv[1] + "/${INDEX_FILE}")
j = t.join(idx.select("run", "combo", "seed"), on="run")
print(json.dumps({"rows": t.height, "joined": j.height, "combos": sorted(j["combo"].unique().to_list())}))`, runs);
  const rows = [...want.values()].reduce((s, w) => s + w.rows, 0);
  assert.equal(p.rows, rows);
  assert.equal(p.joined, rows, 'every trace row finds its run in the index, without a cast');
  assert.deepEqual(p.combos, ['relu-sigmoid-relu', 'tanh-sigmoid-relu']);
});

test('probe export --parquet: DuckDB and Polars read one tidy table with the runs\' config joined', (t) => {
  const file = join(tmp(), 'runs.parquet');
  const r = probe(['export', runs, '--parquet', file]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /4 run\(s\), [\d,]+ rows → .*runs\.parquet/);
  assert.equal(readFileSync(file).subarray(0, 4).toString(), 'PAR1');
  if (!hasModule('duckdb')) return t.skip('duckdb could not be installed (scripts/python-env.sh)');
  const want = ours(runs);
  const d = py(`
import json, sys, duckdb
q = lambda s: duckdb.sql(s.replace("F", "'" + sys.argv[1] + "'")).fetchall()
print(json.dumps({
  "cols": [c[0] for c in duckdb.sql("describe select * from F".replace("F", "'" + sys.argv[1] + "'")).fetchall()],
  "runs": {r: [n, s, c, a1, a2, a3, seed] for r, n, s, c, a1, a2, a3, seed in q("select run, count(*), sum(value), any_value(combo), any_value(act_1), any_value(act_2), any_value(act_3), any_value(seed) from F group by run")},
  "mismatch": q("select count(*) from F where layer >= 1 and activation is distinct from (case layer when 1 then act_1 when 2 then act_2 else act_3 end)")[0][0],
  "network": q("select count(*) from F where layer = 0 and activation is not null")[0][0],
  "variant": q("select distinct variant, dataset, bn, status from F"),
}))`, file);
  assert.deepEqual(d.cols, ['run', 'combo', 'seed', 'variant', 'dataset', 'bn', 'backend', 'status',
    'lr', 'momentum', 'batch', 'epochs', 'train_limit', 'test_limit', 'intervention', 'engine', 'config_hash', 'hidden', 'every', 'optimizer', 'settings_hash', 'act_1', 'act_2', 'act_3', 'step', 'epoch', 'layer', 'activation', 'probe', 'metric', 'value']);
  for (const [run, w] of want) {
    const [n, sum, combo, a1, a2, a3, seed] = d.runs[run];
    assert.equal(n, w.rows, run);
    assert.ok(Math.abs(sum - w.sum) <= 1e-5 * Math.abs(w.sum) + 1e-5, run);
    assert.equal(combo, w.combo);
    assert.deepEqual([a1, a2, a3], w.acts);
    assert.equal(seed, Number(run.slice(-1)));
  }
  assert.equal(d.mismatch, 0, 'activation is the row\'s own layer\'s');
  assert.equal(d.network, 0, 'layer 0 has no activation');
  assert.deepEqual(d.variant, [['mnist', 'mnist', 'none', 'complete']]);
  if (!hasModule('polars')) return t.skip('polars could not be installed (scripts/python-env.sh)');
  const p = py(`
import json, sys, polars as pl
t = pl.read_parquet(sys.argv[1])
print(json.dumps({"rows": t.height, "runs": t["run"].n_unique()}))`, file);
  assert.deepEqual(p, { rows: [...want.values()].reduce((s, w) => s + w.rows, 0), runs: 4 });
});

test('probe export --csv writes the same table as text, floats exact to float32', () => {
  const file = join(tmp(), 'runs.csv');
  const r = probe(['export', join(runs, 'relu-sigmoid-relu_s1.arrow'), '--csv', file]);
  assert.equal(r.status, 0, r.stderr);
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  // RFC 4180 fields: the hidden widths are "500,256", quoted
  const split = (line: string) => [...line.matchAll(/("(?:[^"]|"")*"|[^,]*)(,|$)/g)].slice(0, -1).map((m) => m[1].startsWith('"') ? m[1].slice(1, -1).replace(/""/g, '"') : m[1]);
  const head = split(lines[0]);
  const tr = readTrace(join(runs, 'relu-sigmoid-relu_s1.arrow'));
  assert.equal(lines.length - 1, tr.columns.length);
  const at = (row: string[], name: string) => row[head.indexOf(name)];
  for (const i of [0, 7, tr.columns.length - 1]) {
    const row = split(lines[i + 1]);
    assert.equal(Math.fround(Number(at(row, 'value'))), tr.columns.value[i], `row ${i}`);
    assert.equal(Number(at(row, 'step')), tr.columns.step[i]);
    assert.equal(at(row, 'metric'), tr.columns.metrics[tr.columns.metric[i]]);
    const layer = tr.columns.layer[i];
    assert.equal(at(row, 'activation'), layer === 0 ? '' : tr.facts.layers[layer - 1].activation);
    assert.equal(at(row, 'combo'), 'relu-sigmoid-relu');
    assert.equal(at(row, 'hidden'), '500,256');
    assert.equal(at(row, 'lr'), '0.01');
    assert.equal(at(row, 'train_limit'), '', 'a setting not set is an empty cell');
  }
});

test('probe export --csv: values that are not finite read back as numbers, in JavaScript and in DuckDB, Polars, pandas', (t) => {
  const dir = tmp();
  // an overflowed norm (+inf), a negative infinity, a NaN, from the first row on
  writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.3, epochs: 1, fixed: { loss: Infinity, accuracy: -Infinity, w_grad_norm: NaN } });
  const file = join(tmp(), 'inf.csv');
  const r = probe(['export', dir, '--csv', file]);
  assert.equal(r.status, 0, r.stderr);
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  const head = lines[0].split(',');
  const values = (metric: string) => lines.slice(1).map((l) => l.split(',')).filter((c) => c[head.indexOf('metric')] === metric).map((c) => c[head.indexOf('value')]);
  for (const [metric, want] of [['loss', Infinity], ['accuracy', -Infinity], ['w_grad_norm', NaN]] as const) {
    const v = values(metric);
    assert.ok(v.length > 0, metric);
    for (const cell of v) assert.ok(Object.is(Number(cell), want), `${metric}: '${cell}' reads as ${Number(cell)}, not ${want}`);
  }
  for (const m of ['duckdb', 'polars', 'pandas']) if (!hasModule(m)) return t.skip(`${m} could not be installed (scripts/python-env.sh)`);
  const got = py(`
import json, sys, duckdb, polars as pl, pandas as pd
f = sys.argv[1]
d = duckdb.sql(f"select typeof(value), max(value) filter (where metric = 'loss'), min(value) filter (where metric = 'accuracy') from '{f}' group by 1").fetchall()
p = pl.read_csv(f)
q = pd.read_csv(f)
print(json.dumps({"duckdb": [d[0][0], str(d[0][1]), str(d[0][2])], "polars": [str(p.schema["value"]), str(p.filter(pl.col("metric") == "loss")["value"].max())], "pandas": [str(q["value"].dtype), str(q[q.metric == "accuracy"]["value"].min())]}))`, file);
  assert.deepEqual(got, { duckdb: ['DOUBLE', 'inf', '-inf'], polars: ['Float64', 'inf'], pandas: ['float64', '-inf'] });
});

test('probe export: traces sharing a run name (same combination and seed, other settings) keep run, step, layer, probe, metric a key, and say so', () => {
  const root = tmp();
  const [a, b] = [join(root, 'sw7'), join(root, 'sw3')];
  for (const d of [a, b]) mkdirSync(d);
  writeSyntheticTrace(a, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.3, epochs: 1 });
  writeSyntheticTrace(a, { combo: 'relu-tanh-relu', seed: 1, acc: 0.9, epochs: 1 });
  writeSyntheticTrace(b, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.4, epochs: 2 });
  const r = probe(['export', 'sw7', 'sw3', '--csv', 'all.csv'], { cwd: root });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /3 run\(s\)/);
  assert.match(r.stderr, /^warning 1 run name\(s\) belong to more than one trace \(other settings or copies: relu-sigmoid-relu_s1 is sw7\/relu-sigmoid-relu_s1, sw3\/relu-sigmoid-relu_s1\)/m);
  const lines = readFileSync(join(root, 'all.csv'), 'utf8').trimEnd().split('\n');
  const head = lines[0].split(',');
  const col = (name: string) => head.indexOf(name);
  // RFC 4180 fields (the hidden widths are quoted: "500,256")
  const split = (line: string) => [...line.matchAll(/("(?:[^"]|"")*"|[^,]*)(,|$)/g)].slice(0, -1).map((m) => m[1].startsWith('"') ? m[1].slice(1, -1).replace(/""/g, '"') : m[1]);
  const rows = lines.slice(1).map(split);
  const keys = rows.map((f) => ['run', 'step', 'layer', 'probe', 'metric'].map((k) => f[col(k)]).join('|'));
  assert.equal(new Set(keys).size, keys.length, 'no duplicate keys');
  assert.deepEqual([...new Set(rows.map((f) => f[col('run')]))].sort(), ['relu-tanh-relu_s1', 'sw3/relu-sigmoid-relu_s1', 'sw7/relu-sigmoid-relu_s1']);
});

test('probe export: bad targets are one line with exit 2, and no file is written or replaced', () => {
  const dir = tmp();
  const bad = (args: string[], re: RegExp) => {
    const b = probe(['export', ...args]);
    assert.equal(b.status, 2, b.stderr);
    assert.match(b.stderr, re);
    assert.equal(b.stderr.trim().split('\n').length, 1, b.stderr);
  };
  bad([runs], /exactly one of --parquet FILE or --csv FILE, got neither/);
  bad([runs, '--csv', join(dir, 'a.csv'), '--parquet', join(dir, 'a.parquet')], /got both/);
  bad([dir, '--csv', join(dir, 'a.csv')], /no trace found in/);
  writeFileSync(join(dir, 'keep.parquet'), 'old');
  bad([runs, '--parquet', join(dir, 'keep.parquet')], /keep\.parquet already exists: pass --force/);
  assert.equal(readFileSync(join(dir, 'keep.parquet'), 'utf8'), 'old');
  assert.deepEqual(readdirSync(dir).sort(), ['keep.parquet'], 'nothing half-written left behind');
  assert.equal(probe(['export', runs, '--parquet', join(dir, 'keep.parquet'), '--force']).status, 0);
  assert.equal(readFileSync(join(dir, 'keep.parquet')).subarray(0, 4).toString(), 'PAR1');
  // a folder as the target (the traces' own, say), even with --force: refused, the folder untouched
  const before = readdirSync(runs).sort();
  bad([runs, '--parquet', runs, '--force'], /^error --parquet .+ is a folder: give a file name for the table, e\.g\. runs\.parquet$/m);
  bad([runs, '--csv', dir], /^error --csv .+ is a folder: give a file name for the table, e\.g\. runs\.csv$/m);
  assert.deepEqual(readdirSync(runs).sort(), before);
});

test('README\'s "Analyse in Python" works as written, typed in order', (t) => {
  for (const m of ['duckdb', 'polars', 'pandas']) if (!hasModule(m)) return t.skip(`${m} could not be installed (scripts/python-env.sh)`);
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = /### Analyse in Python\n([\s\S]*?)\n#{2,3} /.exec(readme)![1];
  const blocks = [...section.matchAll(/```(sh|python)\n([\s\S]*?)```/g)].map((b) => ({ lang: b[1], code: b[2] }));
  assert.deepEqual(blocks.map((b) => b.lang), ['sh', 'python']);
  // a folder as a user has it: traces, the sweep's index and a report beside them
  const cwd = tmp();
  const dir = join(cwd, 'runs');
  spawnSync('cp', ['-r', runs, dir]);
  spawnSync('mkdir', ['-p', join(dir, 'report')]);
  writeFileSync(join(dir, 'report', 'index.html'), '<html></html>');
  for (const line of blocks[0].code.trim().split('\n')) {
    const args = line.replace(/^npx probe /, '').split(/\s+/);
    const r = probe(args, { cwd });
    assert.equal(r.status, 0, `${line}: ${r.stderr}`);
  }
  const r = spawnSync(python!, ['-c', `${blocks[1].code}
import pandas as pd
idx = pd.read_feather("runs/_index.feather")
assert len(idx) == 4 and len(df) == traces.height == runs.height, (len(idx), len(df), traces.height, runs.height)
import pyarrow.feather
assert means.num_rows == len(df.groupby(["run", "layer", "metric"], observed=True)), means.num_rows
joined = table.unify_dictionaries().join(pyarrow.feather.read_table("runs/_index.feather").select(["run", "combo"]), keys="run")
assert joined.num_rows == len(df), joined.num_rows
assert sat.height == 3, sat  # sigmoid layers of both combinations, the tanh layer of one
print("ok")`], { cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /dead_rows/);
  assert.match(r.stdout, /ok\n$/);
});
