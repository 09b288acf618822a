/**
 * The evaluation's cost: ms per `evaluateDiagnosed` on the MNIST test set (10,000 inputs, chunks
 * of 1,000), and, apart, ms per evaluation spent in `DiagnosisAccumulator.add` alone (fed the
 * chunks of one evaluation, read back once). Medians of the rounds after the first (warm-up),
 * in wall time and in this process's CPU time (user + system, less moved by other processes on
 * the cores than wall time, not unmoved). A busy machine moves these figures; compare runs taken
 * side by side.
 *
 *   node dist/bench/evaluate.js [combo=relu-sigmoid-relu] [rounds=5] [backend=wasm]
 */
import * as tf from '@tensorflow/tfjs';
import { parseCombo } from '../src/activations/index.js';
import { evaluateDiagnosed } from '../src/experiment/evaluate.js';
import { DiagnosisAccumulator, type EvalChunk } from '../src/study/diagnosis.js';
import { DEFAULT_PROBE_SETTINGS } from '../src/probes/probe.js';
import { selectBackend, type BackendName } from '../src/train/backend.js';
import { BatchBuilder, disposeBatch } from '../src/train/batch.js';
import { loadMnist } from '../src/train/data.js';
import { Mlp } from '../src/train/engine.js';
import { initParams } from '../src/train/model.js';

const [combo = 'relu-sigmoid-relu', roundsArg = '5', backend = 'wasm'] = process.argv.slice(2);
const rounds = Number(roundsArg);
await selectBackend(backend as BackendName);
const data = loadMnist();
const sizes = [784, 500, 256, 10];
const acts = parseCombo(combo, 3);
const arch = { sizes, activations: acts };
const model = new Mlp(arch, initParams(arch, 1), { lr: 0.01, momentum: 0.5 });
const median = (xs: readonly number[]) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

const whole: number[] = [], wholeCpu: number[] = [];
for (let r = 0; r < rounds; r++) {
  const t = performance.now(), c = process.cpuUsage();
  evaluateDiagnosed(model, data, DEFAULT_PROBE_SETTINGS, null);
  const dc = process.cpuUsage(c);
  whole.push(performance.now() - t);
  wholeCpu.push((dc.user + dc.system) / 1000);
}

// the chunks of one evaluation, read back once, then `add` alone over and over
const split = data.test, chunk = 1000;
const identity = Uint32Array.from({ length: split.n }, (_, i) => i);
const builder = new BatchBuilder(split, data.lut, data.lutOffset, data.classes);
const chunks: EvalChunk[] = [];
for (let start = 0; start < split.n; start += chunk) {
  const size = Math.min(chunk, split.n - start);
  const batch = builder.build(identity, start, size);
  const r = model.evaluateDetail(batch);
  disposeBatch(batch);
  chunks.push({ n: size, labels: split.labels.subarray(start, start + size), layers: r.layers });
}
const adds: number[] = [];
for (let r = 0; r < rounds; r++) {
  const acc = new DiagnosisAccumulator(acts, sizes.slice(1), DEFAULT_PROBE_SETTINGS);
  const t = performance.now();
  for (const c of chunks) acc.add(c);
  acc.finish(null);
  adds.push(performance.now() - t);
}
const fmt = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(' ');
console.log(`${combo} on ${tf.getBackend()}: evaluateDiagnosed ${median(whole.slice(1)).toFixed(0)} ms, cpu ${median(wholeCpu.slice(1)).toFixed(0)} ms (rounds ${fmt(whole)}); add+finish ${median(adds.slice(1)).toFixed(1)} ms (rounds ${fmt(adds)})`);
