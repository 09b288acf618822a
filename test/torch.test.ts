/**
 * probe_torch end to end: its own tests under each PyTorch (Debian's 1.13, the 2.x wheel); a
 * PyTorch run read by `probe inspect`, `report`, `compare` (beside the engine's run of the same
 * weights and batches), `export` and `watch`; a killed Python process; a process killed at every
 * write of a checkpoint; the run lock shared with `probe run`.
 *
 * Python comes from scripts/torch-env.sh (npm test runs it: PROBE_TORCH_PYTHON, PROBE_TORCH2_PYTHON);
 * without it these tests skip with the reason.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { checkTrace } from '../src/read/conformance.js';
import { readTrace } from '../src/trace/reader.js';
import { startWatch } from '../src/watch/server.js';
import { FIXTURES, probeCli, ROOT, tmp } from './helpers.js';
import { runStudyMlp, STUDY_MLP, TORCH_ENVS, writeStudySpec } from './torch-spec.js';

const [torch1, torch2] = TORCH_ENVS;
const python = torch1.python ?? torch2.python;
const skip = python ? false : torch1.skip;
const cli = (args: string[]) => probeCli(args);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const RUN = 'relu-sigmoid-relu_s1';

let dir = '', spec = '', torchTrace = '', engineTrace = '';
before(() => {
  if (!python) return;
  dir = tmp('probe-torch-');
  spec = join(dir, 'spec');
  mkdirSync(spec);
  writeStudySpec(spec, { combo: 'relu-sigmoid-relu', seed: 1, epochs: 2, dataDir: FIXTURES });
  runStudyMlp(python, spec, ['--out', join(dir, 'torch'), '--run', RUN, '--model', 'sequential']);
  torchTrace = join(dir, 'torch', `${RUN}.arrow`);
  const r = cli(['run', 'relu-sigmoid-relu', '--seed', '1', '--epochs', '2', '--data-dir', FIXTURES, '--backend', 'wasm', '--out', join(dir, 'engine'), '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  engineTrace = join(dir, 'engine', `${RUN}.arrow`);
});

for (const env of TORCH_ENVS) {
  test(`probe_torch's own tests pass under ${env.label}`, { skip: env.skip }, () => {
    const r = spawnSync(env.python!, ['-m', 'unittest', 'discover', '-s', join(ROOT, 'python', 'tests'), '-p', 'test_*.py'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr.slice(-4000));
    assert.match(r.stderr, /Ran \d+ tests[\s\S]*OK/);
  });
}

test('probe inspect reads a PyTorch trace: its layers by module name, what was not probed, the optimizer, and the trace format holds', { skip }, () => {
  const r = cli(['inspect', torchTrace]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /engine pytorch/);
  assert.match(r.stdout, /model Sequential \(PyTorch, probe_torch\)/);
  assert.match(r.stdout, /layers 1 0 Linear 500 units relu, 2 2 Linear 256 units sigmoid, 3 4 Linear 10 units relu/);
  assert.match(r.stdout, /not probed 6 \(LogSoftmax: softmax belongs to the loss/);
  assert.match(r.stdout, /config optimizer SGD lr 0\.01 momentum 0\.5 .* batch 32 · epochs 2/);
  assert.match(r.stdout, /versions python [\d.]+, torch [\w.+]+, numpy [\d.]+, pyarrow [\d.]+, probe_torch/);
  // what is wrong, as for any network, then the study's line: its writer evaluated the study's measures
  assert.match(r.stdout, /\ndiagnosis relu-sigmoid-relu_s1: (failing|learning): test accuracy \d+\.\d+%/);
  assert.match(r.stdout, /\nstudy relu-sigmoid-relu_s1: \d+\.\d% of test inputs misclassified/);
  assert.doesNotMatch(r.stdout, /older probe/);
  const c = cli(['inspect', torchTrace, '--check']);
  assert.equal(c.status, 0, c.stdout);
  assert.deepEqual(checkTrace(readTrace(torchTrace)).violations, []);
});

test("README's PyTorch example (examples/torch-mnist.py) trains the study's model and leaves a complete trace", { skip }, () => {
  const out = join(dir, 'example');
  const r = spawnSync(python!, [join(ROOT, 'examples', 'torch-mnist.py'), '--data-dir', FIXTURES, '--epochs', '1', '--out', out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /epoch 1: test accuracy \d+\.\d\d%\ntrace: .*relu-sigmoid-relu_s1\.arrow/);
  const t = readTrace(join(out, 'relu-sigmoid-relu_s1.arrow'));
  assert.equal(t.status, 'complete');
  assert.deepEqual(t.facts.layers.map((l) => `${l.name} ${l.activation}`), ['fc1 relu', 'fc2 sigmoid', 'fc3 relu']);
  assert.deepEqual(checkTrace(t).violations, []);
});

test('probe report on PyTorch traces leads with what is wrong, and has no H1/H2 verdicts or sweep advice', { skip }, () => {
  const out = join(dir, 'report');
  const r = cli(['report', join(dir, 'torch'), '--out', out, '--no-images']);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[1], /^diagnosis relu-sigmoid-relu_s1: (failing|learning): test accuracy \d+\.\d+%/);
  assert.doesNotMatch(r.stdout, /INCONCLUSIVE|probe sweep --combos|older probe/);
  const html = readFileSync(join(out, 'index.html'), 'utf8');
  assert.ok(html.indexOf('<section id="what-is-wrong">') > 0 && html.indexOf('<section id="what-is-wrong">') < html.indexOf('<h2>Across runs</h2>'), 'what is wrong comes first');
  assert.doesNotMatch(html, /id="study"|class="hyp"/);
  // the study's line is in the run's details, its writer having evaluated the study's measures
  assert.match(html, /study: relu-sigmoid-relu_s1: \d+\.\d% of test inputs misclassified/);
  const verdicts = JSON.parse(readFileSync(join(out, 'verdicts.json'), 'utf8'));
  assert.equal(verdicts.health[0].run, RUN);
  assert.equal(verdicts.diagnoses[0].run, RUN);
  assert.ok(verdicts.diagnoses[0].errors > 0);
});

test('probe compare sets a PyTorch run beside the engine run of the same weights and batches: the same figures', { skip }, () => {
  const r = cli(['compare', engineTrace, torchTrace]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /probe compare · 2 group\(s\) of runs/);
  assert.match(r.stdout, /source +— +"pytorch"/);
  // every figure the table shows is the same in both columns, to the digits shown
  const figures = r.stdout.split('\n').filter((l) => /, epoch 2 /.test(l));
  assert.ok(figures.length >= 10, r.stdout);
  for (const l of figures) {
    const cells = l.trim().split(/\s{2,}/);
    assert.equal(cells.at(-1), cells.at(-2), l);
  }
  assert.match(r.stdout, /never diverges beyond 0\.05 \(largest difference [\d.e-]+ over 20 step\(s\)\)/);
});

test('probe export writes a PyTorch trace to Parquet and CSV that pyarrow reads back row for row', { skip }, () => {
  const out = join(dir, 'export.parquet'), csv = join(dir, 'export.csv');
  assert.equal(cli(['export', torchTrace, '--parquet', out]).status, 0);
  assert.equal(cli(['export', torchTrace, '--csv', csv]).status, 0);
  const t = readTrace(torchTrace);
  const read = spawnSync(python!, ['-c', 'import sys, pyarrow.parquet as pq, pyarrow.csv as pc; a = pq.read_table(sys.argv[1]); b = pc.read_csv(sys.argv[2]); print(a.num_rows, b.num_rows, ",".join(sorted(set(a.column("backend").to_pylist()))))', out, csv], { encoding: 'utf8' });
  assert.equal(read.status, 0, read.stderr);
  const [a, b, rest] = read.stdout.trim().split(' ', 3);
  assert.equal(Number(a), t.columns.length);
  assert.equal(Number(b), t.columns.length);
  assert.equal(rest, 'pytorch-cpu');
});

test('a killed Python process leaves a trace that opens and says truncated, and its lock is taken over by the next run', { skip }, () => {
  const out = join(dir, 'killed');
  // killed during epoch 2 (steps 8–15), with a checkpoint after every step: the rows of steps up to
  // 15 are in the file (with 0.01 s between checkpoints the last one fell on step 12–15 here, by the
  // clock: the test failed once under the suite's load)
  const r = spawnSync(python!, [STUDY_MLP, spec, '--out', out, '--run', 'k', '--kill-after-steps', '16', '--checkpoint-seconds', '0.0001'], { encoding: 'utf8' });
  assert.equal(r.signal, 'SIGKILL');
  const path = join(out, 'k.arrow');
  const t = readTrace(path);
  assert.equal(t.status, 'running');
  assert.equal(t.truncated, true);
  assert.equal(t.progress!.epochsDone, 1);
  assert.equal(Math.max(...t.columns.step), 15, 'rows of epoch 2 up to the last checkpoint');
  assert.deepEqual(checkTrace(t).violations, []);
  const i = cli(['inspect', path]);
  assert.equal(i.status, 3);
  assert.match(i.stdout, /TRUNCATED: 1 of 2 epochs finished, .* the process ended without closing it \(killed or crashed\)/);
  assert.ok(existsSync(`${path}.lock`), "the killed process's lock is still there");
  runStudyMlp(python!, spec, ['--out', out, '--run', 'k', '--epochs', '1', '--force']);
  assert.equal(readTrace(path).status, 'complete');
  assert.ok(!existsSync(`${path}.lock`));
});

test('a Python process killed at any write of a checkpoint leaves a file that opens with every row of the checkpoint before', { skip }, () => {
  const out = join(dir, 'kill-points');
  const r = spawnSync(python!, [join(ROOT, 'python', 'tests', 'kill_points.py'), out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { writes: number; files: { file: string; n1: number; n2: number }[] };
  assert.ok(manifest.writes >= 3 && manifest.files.length === 2 * manifest.writes + 1);
  for (const f of manifest.files) {
    const t = readTrace(join(out, f.file));
    assert.ok(t.columns.length === f.n1 || t.columns.length === f.n2, `${f.file}: ${t.columns.length} rows, want ${f.n1} or ${f.n2}`);
    assert.equal(t.status, 'running', f.file);
  }
});

function get(url: string, path: string): Promise<string> {
  const u = new URL(url);
  return new Promise((ok, fail) => {
    const req = request({ host: u.hostname, port: u.port, path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => ok(body));
    });
    req.on('error', fail);
    req.end();
  });
}

test('probe watch shows a PyTorch run in flight, probe run refuses its trace while it computes, and both see it finish', { skip }, async () => {
  const out = join(dir, 'live'), hold = join(dir, 'hold');
  mkdirSync(out);
  writeFileSync(hold, '0');
  const child = spawn(python!, [STUDY_MLP, spec, '--out', out, '--run', RUN, '--hold', hold], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const exited = new Promise<number | null>((ok) => child.on('exit', (code) => ok(code)));
  const s = await startWatch(out, { pollMs: 100 });
  try {
    const state = async () => (JSON.parse(await get(s.url, '/state.json')) as { runs: { run: string; state: string; epochsDone: number }[] }).runs;
    const until = Date.now() + 60_000;
    while (!(await state()).some((r) => r.epochsDone === 1) && Date.now() < until) await sleep(100);
    const held = (await state())[0];
    assert.equal(held.run, RUN);
    assert.equal(held.state, 'running', JSON.stringify(held) + stderr);
    const busy = cli(['run', 'relu-sigmoid-relu', '--seed', '1', '--epochs', '2', '--data-dir', FIXTURES, '--backend', 'wasm', '--out', out, '--quiet', '--force']);
    assert.notEqual(busy.status, 0);
    assert.match(busy.stderr, new RegExp(`${RUN}\\.arrow is being computed by pid ${child.pid} on `));
    writeFileSync(hold, '2');
    assert.equal(await exited, 0, stderr);
    while ((await state())[0].state !== 'complete' && Date.now() < until) await sleep(100);
    assert.equal((await state())[0].state, 'complete');
  } finally {
    child.kill();
    await s.close();
  }
});

