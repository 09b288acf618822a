import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, writeFileSync, readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readTrace } from '../src/trace/reader.js';
import { ProbeError, runExperiment, type RunInput } from '../src/api.js';
import { MNIST_FILES } from '../src/train/data.js';
import { BIN, FIXTURES, ROOT, tmp, probeCli } from './helpers.js';

const probe = (args: string[], cwd = ROOT) => probeCli(args, { cwd });
const quick = ['--data-dir', FIXTURES, '--backend', 'wasm', '--quiet'];

test('probe run trains, prints a summary, writes a complete trace that inspect describes', () => {
  const out = tmp();
  const r = probe(['run', 'relu-sigmoid-relu', ...quick, '--epochs', '2', '--out', out, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.status, 'complete');
  assert.equal(s.epochs.length, 2);
  assert.equal(s.steps, 20);
  assert.equal(s.backend, 'wasm');
  const path = join(out, 'relu-sigmoid-relu_s1.arrow');
  assert.equal(s.path, path);
  const t = readTrace(path);
  assert.equal(t.status, 'complete');
  assert.equal(t.facts.backend, 'wasm');
  // Node 20 with the V8 flag, or Node ≥ 22: relaxed SIMD is there on every supported runtime
  assert.equal(t.facts.kernels, 'wasm-relaxed-simd');
  assert.deepEqual(t.facts.layers.map((l) => l.activation), ['relu', 'sigmoid', 'relu']);
  // what is wrong (any network) and the study's line (its MLP), the same fields in --json; rows at every evaluation (0 = before training)
  assert.match(s.diagnosis.headline, /^relu-sigmoid-relu_s1: (failing|learning): test accuracy \d+\.\d+%/);
  assert.ok(Array.isArray(s.diagnosis.findings) && Array.isArray(s.diagnosis.layers) && s.diagnosis.layers.length === 3);
  assert.match(s.studyDiagnosis.text, /^relu-sigmoid-relu_s1: \d+\.\d% of test inputs misclassified; /);
  assert.ok('mechanism' in s.studyDiagnosis && 'causes' in s.studyDiagnosis && s.studyDiagnosis.thresholds.covers === 0.5);
  const diagProbe = t.columns.probes.indexOf('diagnosis'), unitProbe = t.columns.probes.indexOf('unit-activity');
  const diagEpochs = new Set<number>(), unitLayers = new Set<number>();
  for (let k = 0; k < t.columns.length; k++) {
    if (t.columns.probe[k] === diagProbe) diagEpochs.add(t.columns.epoch[k]);
    if (t.columns.probe[k] === unitProbe) unitLayers.add(t.columns.layer[k]);
  }
  assert.deepEqual([...diagEpochs].sort(), [0, 1, 2]);
  assert.deepEqual([...unitLayers].sort(), [1, 3], 'per-unit activity for every ReLU layer, 500 units wide or 10');
  const i = probe(['inspect', path]);
  assert.equal(i.status, 0, i.stderr);
  assert.match(i.stdout, /status: complete/);
  assert.match(i.stdout, /layer 2 sigmoid saturation: sat_frac, sat_low, sat_high, mean_deriv/);
  assert.match(i.stdout, /per epoch\n.*epoch.*test acc/);
  assert.match(i.stdout, /layer 1 relu unit-activity: u0…u499 \(500 units\)/);
  // what is wrong comes right after the status, before how the trace was made
  assert.match(i.stdout, /\nstatus: complete\ndiagnosis relu-sigmoid-relu_s1: (failing|learning): /);
  assert.match(i.stdout, /\nstudy relu-sigmoid-relu_s1: \d+\.\d% of test inputs misclassified; /);
  const human = probe(['run', 'tanh-tanh-tanh', ...quick, '--epochs', '1', '--out', out]);
  assert.equal(human.status, 0, human.stderr);
  assert.match(human.stdout, /✔ tanh-tanh-tanh seed 1 · complete · 10 steps/);
  assert.match(human.stdout, /last probed step/);
  // the diagnosis leads the summary, right under how the run ended
  assert.match(human.stdout, /✔ tanh-tanh-tanh seed 1 · complete · 10 steps[^\n]*\ndiagnosis tanh-tanh-tanh_s1: (failing|learning): /);
  assert.match(human.stdout, /\nstudy tanh-tanh-tanh_s1: \d+\.\d% of test inputs misclassified; /);
});

test('the same seed, settings and backend give byte-identical probe values; another seed does not', () => {
  const a = tmp(), b = tmp();
  for (const [dir, seed] of [[a, '3'], [b, '3'], [join(a, 'other'), '4']]) {
    const r = probe(['run', 'sigmoid-sigmoid-relu', ...quick, '--epochs', '2', '--every', '1', '--seed', seed, '--out', dir]);
    assert.equal(r.status, 0, r.stderr);
  }
  const ta = readTrace(join(a, 'sigmoid-sigmoid-relu_s3.arrow')).columns, tb = readTrace(join(b, 'sigmoid-sigmoid-relu_s3.arrow')).columns;
  const probeRows = (t: typeof ta) => t.value.filter((_, i) => !['eval', 'timing'].includes(t.probes[t.probe[i]]) || t.metrics[t.metric[i]].startsWith('test') || t.metrics[t.metric[i]] === 'train_loss');
  assert.ok(ta.length > 500);
  assert.deepEqual(ta.step, tb.step);
  assert.deepEqual(ta.metric, tb.metric);
  assert.deepEqual(Buffer.from(probeRows(ta).buffer), Buffer.from(probeRows(tb).buffer));
  const tc = readTrace(join(a, 'other', 'sigmoid-sigmoid-relu_s4.arrow')).columns;
  assert.notDeepEqual(probeRows(tc), probeRows(ta));
});

function expectBadInput(args: string[], pattern: RegExp, outDir: string) {
  const before = existsSync(outDir) ? readdirSync(outDir) : [];
  const r = probe(args);
  assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line for ${args.join(' ')}: ${r.stderr}`);
  assert.match(lines[0], pattern);
  assert.equal(r.stdout, '');
  assert.deepEqual(existsSync(outDir) ? readdirSync(outDir) : [], before, 'no file written');
}

test('bad input: one line naming the value, exit 2, nothing written', async () => {
  const out = join(tmp(), 'runs');
  const run = (combo: string, ...more: string[]) => ['run', combo, ...quick, '--epochs', '1', '--out', out, ...more];
  // one spawn per way the binary ends on bad input: an unknown command, a flag yargs rejects, a ProbeError from the library
  expectBadInput(['bogus'], /unknown command 'bogus'/, out);
  expectBadInput(run('relu-relu-relu', '--backend', 'tpu'), /Invalid values:.*backend.*tpu/s, out);
  expectBadInput(run('relu-swish-relu'), /^error unknown activation 'swish' in combination 'relu-swish-relu'/, out);
  // every other bad value takes that last path (the handler is one library call): checked in-process,
  // the same one line, exit code 2 and nothing written
  const rejects = async (input: Partial<RunInput>, pattern: RegExp, outDir = out) => {
    const before = existsSync(outDir) ? readdirSync(outDir) : [];
    await assert.rejects(runExperiment({ combo: 'relu-relu-relu', dataDir: FIXTURES, backend: 'wasm', epochs: 1, ...input }, { out: outDir }),
      (e: unknown) => e instanceof ProbeError && e.exitCode === 2 && pattern.test(e.message) && !e.message.includes('\n'));
    assert.deepEqual(existsSync(outDir) ? readdirSync(outDir) : [], before, `nothing written for ${pattern}`);
  };
  await rejects({ combo: 'relu-relu' }, /names 2 activations but the model has 3 layers/);
  await rejects({ lr: '-0.1' }, /options\.lr must be a number > 0, got '-0.1'/);
  await rejects({ batch: '0' }, /options\.batch must be a whole number ≥ 1, got '0'/);
  await rejects({ epochs: '1.5' }, /options\.epochs must be a whole number ≥ 1, got '1.5'/);
  await rejects({ dataDir: tmp() }, /data file not found: .*train-images-idx3-ubyte/);
  const corrupt = tmp();
  for (const f of Object.values(MNIST_FILES)) copyFileSync(join(FIXTURES, f), join(corrupt, f));
  const img = join(corrupt, MNIST_FILES.testImages);
  writeFileSync(img, Buffer.concat([Buffer.from([0, 0, 8, 9]), readFileSync(img).subarray(4)]));
  await rejects({ dataDir: corrupt }, /magic number 0x00000809, expected 0x00000803/);
  const notDir = join(tmp(), 'file');
  writeFileSync(notDir, 'x');
  await rejects({}, /output directory .* is not writable \(a part of the path is a file\)/, join(notDir, 'runs'));
  assert.throws(() => readTrace(notDir), (e: unknown) => e instanceof ProbeError && e.exitCode === 2 && /is not a probe trace: not an Arrow IPC file/.test(e.message));
});

const children = new Set<ReturnType<typeof spawn>>();
after(() => children.forEach((c) => c.kill('SIGKILL')));

/** Starts a long run on the fixtures and resolves once its trace shows `epochs` finished epochs. */
async function startLongRun(out: string, epochs: number) {
  mkdirSync(out, { recursive: true });
  const child = spawn(process.execPath, [BIN, 'run', 'relu-sigmoid-relu', ...quick, '--epochs', '100000', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((res) => child.on('exit', (code, sig) => res(code ?? (sig ? -1 : null))));
  const path = join(out, 'relu-sigmoid-relu_s1.arrow');
  // generous: each epoch now also evaluates with the diagnosis, and the shared machine is loaded
  const deadline = Date.now() + 180_000;
  // the epochs it had finished when seen (a read that catches the next checkpoint mid-write is
  // recovered without progress: read again)
  let seen = 0;
  for (;;) {
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`run made no progress: ${stderr}`); }
    await new Promise((r) => setTimeout(r, 100));
    try {
      seen = readTrace(path).progress?.epochsDone ?? 0;
      if (seen >= epochs) break;
    } catch { /* not created yet */ }
  }
  return { child, path, exited, seen, stderr: () => stderr };
}

test('kill -9 mid-run leaves a trace that opens, holds every finished epoch, and inspect calls truncated', async () => {
  // (not a second read here: it may catch the run's next checkpoint mid-write, recovered without progress)
  const { child, path, exited, seen } = await startLongRun(tmp(), 3);
  child.kill('SIGKILL');
  await exited;
  const t = readTrace(path);
  assert.equal(t.truncated, true);
  assert.ok(t.progress!.epochsDone >= seen);
  const evalRows = t.columns.probe.filter((p) => t.columns.probes[p] === 'eval').length;
  assert.ok(evalRows >= 3 * seen, `${evalRows} eval rows for ${seen} epochs`);
  const i = probe(['inspect', path]);
  assert.equal(i.status, 3, 'inspect exits 3 on a truncated trace');
  assert.match(i.stdout, /TRUNCATED: \d+ of 100000 epochs finished.*the process ended without closing it/);
});

test('Ctrl-C stops after the current step, closes the trace as interrupted and exits 130', async () => {
  const { child, path, exited, stderr } = await startLongRun(tmp(), 2);
  child.kill('SIGINT');
  const code = await exited;
  assert.equal(code, 130, stderr());
  assert.match(stderr(), /interrupted after \d+ steps; the trace so far is in/);
  const t = readTrace(path);
  assert.equal(t.status, 'interrupted');
  assert.equal(t.recovered, false);
  assert.ok(t.progress!.epochsDone >= 2);
});

test('pyarrow reads a trace (the library most users open traces with)', (t) => {
  const python = process.env.PROBE_PYTHON;
  if (!python) return t.skip('PROBE_PYTHON unset: npm test sets it to a venv with pyarrow (scripts/python-env.sh)');
  const out = tmp();
  assert.equal(probe(['run', 'selu-tanh-relu', ...quick, '--epochs', '1', '--out', out]).status, 0);
  const path = join(out, 'selu-tanh-relu_s1.arrow');
  const ours = readTrace(path);
  const script = `
import json, sys, pyarrow.ipc as ipc
t = ipc.open_file(sys.argv[1]).read_all()
meta = {k.decode(): v.decode() for k, v in t.schema.metadata.items()}
print(json.dumps({"rows": t.num_rows, "columns": t.column_names, "status": json.loads(meta["probe.progress"])["status"],
  "sum": float(sum(t.column("value").to_pylist())), "metrics": sorted(set(t.column("metric").to_pylist()))}))`;
  const r = spawnSync(python, ['-c', script, path], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const py = JSON.parse(r.stdout);
  assert.equal(py.rows, ours.columns.length);
  assert.deepEqual(py.columns, ['run', 'step', 'epoch', 'layer', 'probe', 'metric', 'value']);
  assert.equal(py.status, 'complete');
  const sum = ours.columns.value.reduce((s, v) => s + v, 0);
  assert.ok(Math.abs(py.sum - sum) <= 1e-6 * Math.abs(sum) + 1e-6);
  assert.deepEqual(py.metrics, [...new Set(ours.columns.metrics)].sort());
});
