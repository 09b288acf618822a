import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { allCombos, expandCombos, grid, parseSeeds, parseShard, shardOf } from '../src/sweep/grid.js';
import { emitK8s, emitSlurm, shq } from '../src/sweep/emit.js';
import { planSweep } from '../src/sweep/sweep.js';
import { readTrace, readTraceMeta } from '../src/trace/reader.js';
import { ACTIVATIONS } from '../src/activations/index.js';
import { OUT_BIAS_SHIFT } from '../src/config.js';
import { initialParams } from '../src/experiment/run.js';
import { metricRows } from '../src/trace/summary.js';
import { BIN, FIXTURES, tmp, probeCli as probe } from './helpers.js';

const small = ['--data-dir', FIXTURES, '--backend', 'wasm', '--quiet'];

test('the grid: 64 combinations of the four activations, patterns with *, seed lists and ranges', () => {
  const all = allCombos(ACTIVATIONS, 3);
  assert.equal(all.length, 64);
  assert.equal(new Set(all).size, 64);
  assert.deepEqual(expandCombos(ACTIVATIONS, '*-sigmoid-relu', 3), ['relu-sigmoid-relu', 'tanh-sigmoid-relu', 'sigmoid-sigmoid-relu', 'selu-sigmoid-relu']);
  assert.equal(expandCombos(ACTIVATIONS, '*-sigmoid-relu,*-sigmoid-tanh', 3).length, 8);
  assert.deepEqual(expandCombos(['relu', 'tanh'], undefined, 2), ['relu-relu', 'relu-tanh', 'tanh-relu', 'tanh-tanh']);
  assert.throws(() => expandCombos(ACTIVATIONS, '*-sigmoid', 3), /pattern '\*-sigmoid' must have 3 parts/);
  assert.throws(() => expandCombos(['relu'], '*-tanh-*', 3), /no combination of relu matches --combos '\*-tanh-\*'/);
  assert.deepEqual(parseSeeds('1-3,7,2'), [1, 2, 3, 7]);
  assert.throws(() => parseSeeds('3-1'), /--seeds must be whole numbers/);
  assert.throws(() => parseSeeds('a'), /got 'a'/);
});

test('shards partition the grid: every run in exactly one shard, sizes within one', () => {
  const points = grid(allCombos(ACTIVATIONS, 3), parseSeeds('1-9'));
  for (const n of [1, 2, 7, 16, 64, 600]) {
    const seen = new Map<string, number>();
    const sizes: number[] = [];
    for (let i = 1; i <= n; i++) {
      const part = shardOf(points, parseShard(`${i}/${n}`));
      sizes.push(part.length);
      for (const p of part) seen.set(`${p.combo}_${p.seed}`, (seen.get(`${p.combo}_${p.seed}`) ?? 0) + 1);
    }
    assert.equal(seen.size, points.length, `${n} shards cover the grid`);
    assert.ok([...seen.values()].every((c) => c === 1), `${n} shards do not overlap`);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1);
  }
  assert.deepEqual(shardOf(points, parseShard('2/16')), shardOf(points, parseShard('2/16')), 'deterministic');
  for (const bad of ['0/4', '5/4', '1/0', 'x', '1/']) assert.throws(() => parseShard(bad), /--shard must be i\/N/);
});

test('emitted Slurm and Kubernetes jobs run one shard per task with the same grid', () => {
  const o = { args: ['--combos', '*-sigmoid-relu', '--seeds', '1-5', '--epochs', '3'], shards: 64, out: '/shared/runs', workdir: '/home/me/probe', bin: '/home/me/probe/bin/probe.js', node: '/opt/node 20/bin/node', cpus: 2, image: 'reg/probe:1', pvc: 'runs-pvc', name: 'probe-sweep' };
  const s = emitSlurm(o);
  assert.match(s, /^#!\/bin\/bash\n/);
  assert.match(s, /^#SBATCH --array=1-64$/m);
  assert.match(s, /^#SBATCH --cpus-per-task=2$/m);
  assert.match(s, /^#SBATCH --output=\/shared\/runs\/slurm-%A_%a\.log$/m);
  assert.match(s, /^node=\$\{PROBE_NODE:-'\/opt\/node 20\/bin\/node'\}$/m);
  assert.match(s, /^cd \/home\/me\/probe$/m);
  assert.match(s, /exec "\$node" \/home\/me\/probe\/bin\/probe\.js sweep --combos '\*-sigmoid-relu' --seeds 1-5 --epochs 3 --out \/shared\/runs/);
  assert.doesNotMatch(s, /npx/, 'npx outside the project fetches an unrelated npm package named probe');
  // Slurm reads % in --output as a pattern, and a space would end the option
  assert.match(emitSlurm({ ...o, out: '/shared/my runs/100%' }), /^#SBATCH --output="\/shared\/my runs\/100%%\/slurm-%A_%a\.log"$/m);
  assert.match(s, /--shard "\$\{SLURM_ARRAY_TASK_ID\}\/64"/);
  const k = emitK8s(o);
  for (const re of [/^kind: Job$/m, /^ {2}completionMode: Indexed$/m, /^ {2}completions: 64$/m, /^ {2}parallelism: 64$/m, /image: reg\/probe:1/, /claimName: runs-pvc/, /mountPath: \/runs/]) assert.match(k, re);
  const cmd = JSON.parse(/command: \["sh", "-c", (".*")\]/.exec(k)![1]);
  assert.match(cmd, /--shard "\$\(\(JOB_COMPLETION_INDEX \+ 1\)\)\/64"/);
  assert.match(cmd, /^node \/app\/bin\/probe\.js sweep --combos '\*-sigmoid-relu' .*--out \/runs/);
  assert.equal(shq("it's"), `'it'\\''s'`);
  // the CLI prints the same, with the sweep's own flags carried over, and makes --out, where Slurm
  // opens the task logs before a task starts
  const out = join(tmp(), 'runs');
  const r = probe(['sweep', '--emit', 'slurm', '--shards', '8', '--combos', '*-sigmoid-relu', '--epochs', '2', '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /#SBATCH --array=1-8/);
  assert.ok(r.stdout.includes(`exec "$node" ${BIN} sweep --combos '*-sigmoid-relu' --epochs 2 --out ${out} \\\n`), r.stdout);
  assert.ok(statSync(out).isDirectory());
  assert.match(r.stderr, /--backend auto decides on each node.*give --backend wasm/, 'a mixed-engine sweep is warned of');
  const blocked = join(tmp(), 'file');
  writeFileSync(blocked, '');
  const bad = probe(['sweep', '--emit', 'slurm', '--out', join(blocked, 'runs')]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--out/);
  assert.equal(bad.stdout, '', 'no script when its log folder cannot be made');
  // and a bash syntax check of the script
  const path = join(tmp(), 'sweep.sbatch');
  writeFileSync(path, r.stdout);
  assert.equal(spawnSync('bash', ['-n', path]).status, 0);
});

const children = new Set<ReturnType<typeof spawn>>();
after(() => children.forEach((c) => c.kill('SIGKILL')));

test('a killed sweep resumes: finished runs are skipped untouched, the runs in flight are resumed (or redone, before their first checkpoint)', async () => {
  const out = tmp();
  const args = ['sweep', '--combos', 'relu-*-relu', '--seeds', '1-2', '--epochs', '40', '--workers', '2', '--out', out, ...small];
  const child = spawn(process.execPath, [BIN, ...args], { stdio: 'ignore' });
  children.add(child);
  const exited = new Promise((r) => child.on('exit', r));
  // wait for the first complete run, then kill the sweep outright
  const deadline = Date.now() + 600_000; // generous: the machine may be loaded by other work
  const complete = () => readdirSync(out).filter((f) => f.endsWith('.arrow') && f !== '_index.feather').filter((f) => { try { return !readTraceMeta(join(out, f)).truncated; } catch { return false; } });
  while (complete().length < 1) {
    assert.ok(Date.now() < deadline, 'a run completes');
    await new Promise((r) => setTimeout(r, 200));
  }
  // its workers, to check below that none outlives it (by pid: other tests' sweeps may be running)
  const workers = spawnSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
  assert.ok(workers.length > 0, 'the sweep has workers');
  child.kill('SIGKILL');
  await exited;
  await new Promise((r) => setTimeout(r, 1500)); // workers notice their parent is gone
  const done = complete();
  const before = new Map(done.map((f) => [f, statSync(join(out, f)).mtimeMs]));
  const files = readdirSync(out).filter((f) => f.endsWith('.arrow') && f !== '_index.feather');
  assert.ok(files.length < 8 || done.length < 8, 'the kill left work undone');
  const r = probe(args.slice(0));
  assert.equal(r.status, 0, r.stderr);
  const s = r.stdout;
  assert.match(s, new RegExp(`${8 - done.length} run\\(s\\) completed, ${done.length} skipped`));
  for (const [f, m] of before) assert.equal(statSync(join(out, f)).mtimeMs, m, `${f} was not rewritten`);
  const idx = tableFromIPC(readFileSync(join(out, '_index.feather')));
  assert.equal(idx.numRows, 8);
  assert.deepEqual([...new Set(idx.getChild('status')!.toArray())], ['complete']);
  // nothing left running after a kill
  const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };
  assert.deepEqual(workers.filter(alive), []);
});

test('two shards run as separate processes into one folder cover the grid once', async () => {
  const out = tmp();
  const loud = small.filter((f) => f !== '--quiet');
  const errs: string[] = [];
  const run = (shard: string) => new Promise<number>((res) => {
    const c = spawn(process.execPath, [BIN, 'sweep', '--combos', '*-sigmoid-relu', '--seeds', '1-2', '--epochs', '1', '--workers', '1', '--shard', shard, '--out', out, ...loud], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.add(c);
    let err = '';
    c.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
    c.on('exit', (code) => { errs.push(err); res(code ?? -1); });
  });
  assert.deepEqual(await Promise.all([run('1/2'), run('2/2')]), [0, 0]);
  // a shard holds a slice of the grid: no "next: probe report" yet
  for (const e of errs) assert.doesNotMatch(e, /next: probe report/);
  const traces = readdirSync(out).filter((f) => f.endsWith('.arrow') && f !== '_index.feather').sort();
  assert.equal(traces.length, 8);
  for (const f of traces) assert.equal(readTrace(join(out, f)).status, 'complete');
  // an index written by either shard; rebuilt complete by running the (now finished) sweep again
  const whole = probe(['sweep', '--combos', '*-sigmoid-relu', '--seeds', '1-2', '--epochs', '1', '--out', out, ...loud]);
  assert.equal(whole.status, 0, whole.stderr);
  assert.equal(tableFromIPC(readFileSync(join(out, '_index.feather'))).numRows, 8);
  assert.ok(whole.stderr.trimEnd().endsWith(`next: probe report ${out} — the verdicts on H1 and H2, and the dashboards`), whole.stderr);
});

test('sweep refuses a changed config for an existing run unless --force, and bad grid flags', () => {
  const out = tmp();
  assert.equal(probe(['sweep', '--combos', 'relu-relu-relu', '--seeds', '1', '--epochs', '1', '--out', out, ...small]).status, 0);
  const r = probe(['sweep', '--combos', 'relu-relu-relu', '--seeds', '1', '--epochs', '2', '--out', out, ...small]);
  assert.equal(r.status, 2);
  assert.match(r.stderr.trim(), /^error .*relu-relu-relu_s1.arrow was run with other settings \(config hash differs\): pass --force/);
  const f = probe(['sweep', '--combos', 'relu-relu-relu', '--seeds', '1', '--epochs', '2', '--out', out, '--force', ...small]);
  assert.equal(f.status, 0, f.stderr);
  assert.equal(readTrace(join(out, 'relu-relu-relu_s1.arrow')).progress?.epochsDone, 2);
  for (const [args, re] of [[['--seeds', '9-1'], /--seeds must be/], [['--shard', '3/2'], /--shard must be i\/N/], [['--combos', 'relu-gelu-*'], /pattern 'relu-gelu-\*'/], [['--seed', '3'], /--seed must be given as --seeds/], [['--workers', '0'], /--workers must be a whole number ≥ 1/]] as const) {
    const b = probe(['sweep', ...args, '--out', out, ...small]);
    assert.equal(b.status, 2, b.stderr);
    assert.match(b.stderr, re);
    assert.equal(b.stderr.trim().split('\n').length, 1);
  }
});

test('compare: config differences, grouped seeds, divergence, overlay page; bad inputs are one line', () => {
  const out = tmp();
  assert.equal(probe(['sweep', '--combos', 'relu-sigmoid-relu,relu-sigmoid-tanh', '--seeds', '1-2', '--epochs', '2', '--out', out, ...small]).status, 0);
  const html = join(tmp(), 'cmp.html');
  const r = probe(['compare', out, '--metric', 'sat_frac', '--layer', '2', '--html', html, '--tol', '0']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /relu-sigmoid-relu \(2 seeds\) \(ref\)\s+relu-sigmoid-tanh \(2 seeds\)/);
  assert.match(r.stdout, /test acc, epoch 2\s+\d+\.\d\d ± \d+\.\d\d%/);
  assert.match(r.stdout, /sat_frac \(layer 2\) against relu-sigmoid-relu \(2 seeds\), tolerance 0:/);
  assert.match(readFileSync(html, 'utf8'), /<title>probe compare<\/title>/);
  const j = JSON.parse(probe(['compare', join(out, '_index.feather'), '--json']).stdout);
  assert.equal(j.groups.length, 2);
  assert.deepEqual(j.groups[0].seeds, [1, 2]);
  assert.ok(j.configDiffs.some((d: { key: string }) => d.key === 'combo'));
  const bad = (args: string[], re: RegExp) => {
    const b = probe(['compare', ...args]);
    assert.equal(b.status, 2, b.stderr);
    assert.match(b.stderr, re);
    assert.equal(b.stderr.trim().split('\n').length, 1);
  };
  bad([out, '--metric', 'nope'], /no trace recorded metric 'nope' at layer '0': recorded are/);
  bad([out, '--layer', '7', '--metric', 'dead_rows'], /has no layer 7: it has layers 0 \(network\) to 3/);
  bad([out, '--combos', 'tanh-*-*'], /none of the 4 trace\(s\) has a combination matching 'tanh-\*-\*'/);
  bad([out, '--html', html], /cmp.html already exists: pass --force/);
});

test('sweep --bn none,last runs each combination and seed with and without batch norm; the report pairs them', () => {
  const plan = planSweep({ combos: ['relu-sigmoid-relu', 'tanh-tanh-relu'], seeds: [1, 2], run: { bn: 'none' }, bns: ['none', 'last'], out: tmp() });
  assert.deepEqual(plan.map((p) => p.run), [
    'relu-sigmoid-relu_s1', 'relu-sigmoid-relu_bn-last_s1', 'relu-sigmoid-relu_s2', 'relu-sigmoid-relu_bn-last_s2',
    'tanh-tanh-relu_s1', 'tanh-tanh-relu_bn-last_s1', 'tanh-tanh-relu_s2', 'tanh-tanh-relu_bn-last_s2',
  ]);
  assert.deepEqual(plan.map((p) => p.config.bn), ['none', 'last', 'none', 'last', 'none', 'last', 'none', 'last']);
  const out = tmp();
  const r = probe(['sweep', '--combos', 'relu-sigmoid-relu', '--seeds', '1', '--bn', 'none,last', '--epochs', '1', '--workers', '2', '--out', out, ...small]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readdirSync(out).filter((f) => f.endsWith('.arrow') && f !== 'index.arrow').sort(), ['relu-sigmoid-relu_bn-last_s1.arrow', 'relu-sigmoid-relu_s1.arrow']);
  const rep = probe(['report', out, '--no-images', '--json']);
  assert.equal(rep.status, 0, rep.stderr);
  const j = JSON.parse(rep.stdout);
  assert.equal(j.interventions.length, 1);
  assert.deepEqual(j.interventions[0].pairs.map((p: { without: string; with: string }) => [p.without, p.with]), [['relu-sigmoid-relu_s1', 'relu-sigmoid-relu_bn-last_s1']]);
  assert.equal(j.diagnoses.length, 2);
  // the index's H1/H2 columns are the primary measures at the last evaluation, read here from the
  // traces' diagnosis rows (the index takes them from the footer)
  const idx = tableFromIPC(readFileSync(join(out, '_index.feather')));
  const lastDiag = (file: string, layer: number, metric: string) => {
    const t = tableFromIPC(readFileSync(join(out, file)));
    let v = NaN, step = -1;
    for (const r of t) if (r.probe === 'diagnosis' && r.metric === metric && r.layer === layer && Number(r.step) >= step) { step = Number(r.step); v = r.value; }
    return v;
  };
  const files = idx.getChild('file')!.toArray() as string[];
  files.forEach((f, i) => {
    const h1 = idx.getChild('h1_out_inactive_pairs')!.get(i), h2 = idx.getChild('h2_prev_sat_pairs')!.get(i);
    assert.ok(Number.isFinite(h1) && Number.isFinite(h2), `${f}: h1 ${h1}, h2 ${h2}`);
    assert.ok(Math.abs(h1 - lastDiag(f, 3, 'test_inactive_pairs')) < 1e-6, `${f}: h1 ${h1}`);
    assert.ok(Math.abs(h2 - lastDiag(f, 2, 'test_sat_pairs')) < 1e-6, `${f}: h2 ${h2}`);
  });
  assert.equal(idx.getChild('out_dead_rows'), null, 'the old training-step columns are gone');
  const bad = probe(['sweep', '--bn', 'none,half', '--out', tmp(), ...small]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--bn.*half/);
});

test('sweep --intervention pairs each run with interventions on the output layer: the trained activation, the raised biases, and the report pairs them', () => {
  const plan = planSweep({ combos: ['relu-sigmoid-relu'], seeds: [1], run: { bn: 'none' }, interventions: ['none', 'out-linear', 'out-leaky', 'out-bias'], out: tmp() });
  assert.deepEqual(plan.map((p) => p.run), ['relu-sigmoid-relu_s1', 'relu-sigmoid-relu_out-linear_s1', 'relu-sigmoid-relu_out-leaky_s1', 'relu-sigmoid-relu_out-bias_s1']);
  // the study's setting hashes without the field, as it did before interventions existed
  assert.ok(!('intervention' in plan[0].config));
  assert.deepEqual(plan.slice(1).map((p) => p.config.intervention), ['out-linear', 'out-leaky', 'out-bias']);
  const out = tmp();
  const r = probe(['sweep', '--combos', 'relu-sigmoid-relu', '--seeds', '1', '--intervention', 'none,out-linear,out-leaky,out-bias', '--epochs', '1', '--workers', '2', '--out', out, ...small]);
  assert.equal(r.status, 0, r.stderr);
  const trace = (iv: string) => readTrace(join(out, `relu-sigmoid-relu${iv ? `_${iv}` : ''}_s1.arrow`));
  assert.deepEqual(['', 'out-linear', 'out-leaky', 'out-bias'].map((iv) => trace(iv).facts.layers.map((l) => l.activation).join('-')),
    ['relu-sigmoid-relu', 'relu-sigmoid-linear', 'relu-sigmoid-leakyrelu', 'relu-sigmoid-relu']);
  // the same initial weights; out-bias's output biases exactly 1 higher
  const p = initialParams([784, 500, 256, 10], ['relu', 'sigmoid', 'relu'], { seed: 1 });
  const q = initialParams([784, 500, 256, 10], ['relu', 'sigmoid', 'relu'], { seed: 1, intervention: 'out-bias' });
  assert.deepEqual([...q[0].w.slice(0, 50)], [...p[0].w.slice(0, 50)]);
  assert.deepEqual([...q[2].w], [...p[2].w]);
  assert.deepEqual([...q[2].b], [...p[2].b].map((b) => Math.fround(b + OUT_BIAS_SHIFT)));
  // with every output unit on at the start, no test input has its true class's unit off before training
  const bias = trace('out-bias');
  const before = metricRows(bias, 'diagnosis', 'test_true_inactive', 3);
  assert.equal(before.step[0], 0);
  assert.equal(before.value[0], 0);
  assert.ok(metricRows(trace(''), 'diagnosis', 'test_true_inactive', 3).value[0] > 0, 'the study setting starts with some output units off');
  const rep = probe(['report', out, '--no-images', '--json']);
  assert.equal(rep.status, 0, rep.stderr);
  const j = JSON.parse(rep.stdout);
  assert.deepEqual(j.interventions.map((iv: { intervention: { output: string }; pairs: { without: string; with: string }[] }) => [iv.intervention.output, iv.pairs.map((x) => x.without), iv.pairs.map((x) => x.with)]), [
    ['out-linear', ['relu-sigmoid-relu_s1'], ['relu-sigmoid-relu_out-linear_s1']],
    ['out-leaky', ['relu-sigmoid-relu_s1'], ['relu-sigmoid-relu_out-leaky_s1']],
    ['out-bias', ['relu-sigmoid-relu_s1'], ['relu-sigmoid-relu_out-bias_s1']],
  ]);
  // each intervention is a variant of its own: its runs are never pooled with the study setting's
  assert.deepEqual([...new Set(j.hypotheses.map((h: { variant: string }) => h.variant))].sort(), ['mnist', 'mnist · out-bias', 'mnist · out-leaky', 'mnist · out-linear']);
  assert.doesNotMatch(rep.stderr, /one combination and seed with other settings/);
  const bad = probe(['sweep', '--intervention', 'none,out-lin', '--out', tmp(), ...small]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--intervention.*out-lin/);
});
