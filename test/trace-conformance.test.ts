/**
 * One conformance check (src/read/conformance.ts, `probe inspect --check`) for every writer of the
 * trace format: probe's engine passes it, a trace altered in one way each fails it naming that
 * way, and attached tfjs models' traces are checked too. probe_torch's traces are checked in
 * torch-differential.test.ts and torch.test.ts.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runExperiment } from '../src/experiment/run.js';
import { attachProbes } from '../src/attach/session.js';
import { studySequential } from '../src/attach/study-model.js';
import { BatchBuilder, disposeBatch } from '../src/train/batch.js';
import { loadDataset } from '../src/train/data.js';
import { initParams } from '../src/train/model.js';
import { checkTrace } from '../src/read/conformance.js';
import { readTrace, type Trace } from '../src/trace/reader.js';
import { MetaKey, type RunProgress } from '../src/trace/schema.js';
import { TraceWriter } from '../src/trace/writer.js';
import { FIXTURES, probeCli, tmp, useBackend } from './helpers.js';

let engine: Trace;
before(async () => {
  await useBackend('wasm');
  // 40 steps an epoch: per-unit activity windows of 2 steps
  const r = await runExperiment({ combo: 'relu-sigmoid-relu', seed: 1, epochs: 2, dataDir: FIXTURES, backend: 'wasm', trainLimit: 320, testLimit: 64, batch: 8, distributionEvery: 3 }, { out: tmp() });
  engine = readTrace(r.path);
});

test("probe's engine writes traces that follow the format, and inspect --check says so", () => {
  assert.deepEqual(checkTrace(engine).violations, []);
  const r = probeCli(['inspect', engine.path, '--check']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /follows the trace format \(docs\/trace-format\.md, version 1\): [\d,]+ rows checked/);
});

interface Row { step: number; epoch: number; layer: number; probe: string; metric: string; value: number }

/** The trace rewritten with its rows (and metadata) changed: a trace of the same writer, altered in one way. */
function altered(t: Trace, change: { rows?: (rows: Row[]) => Row[]; facts?: (f: Record<string, unknown>) => unknown; progress?: (p: RunProgress) => RunProgress }): Trace {
  const c = t.columns;
  let rows: Row[] = Array.from({ length: c.length }, (_, i) => ({ step: c.step[i], epoch: c.epoch[i], layer: c.layer[i], probe: c.probes[c.probe[i]], metric: c.metrics[c.metric[i]], value: c.value[i] }));
  rows = change.rows ? change.rows(rows) : rows;
  const path = join(tmp(), 'altered.arrow');
  const facts = change.facts ? change.facts(structuredClone(t.facts) as unknown as Record<string, unknown>) : t.facts;
  const w = TraceWriter.create(path, {
    run: t.run,
    probes: [...new Set([...c.probes, ...rows.map((r) => r.probe)])],
    metrics: [...new Set([...c.metrics, ...rows.map((r) => r.metric)])],
    metadata: { [MetaKey.config]: t.config.raw, [MetaKey.facts]: facts },
  }, t.progress!);
  for (const r of rows) w.append(r.step, r.epoch, r.layer, w.probeId(r.probe), w.metricId(r.metric), r.value);
  w.close(change.progress ? change.progress(t.progress!) : t.progress!);
  return readTrace(path);
}

const first = (rows: Row[], probe: string, metric: string) => rows.find((r) => r.probe === probe && r.metric === metric)!;

const ALTERATIONS: { what: string; rule: string; says: RegExp; change: Parameters<typeof altered>[1] }[] = [
  { what: 'saturation rows on a ReLU layer', rule: 'names', says: /saturation rows on layer 1.*relu/, change: { rows: (rs) => [...rs, { ...first(rs, 'saturation', 'sat_frac'), layer: 1 }] } },
  { what: 'a metric the probe does not write', rule: 'names', says: /'dead_neurons' is not a metric dead-relu writes/, change: { rows: (rs) => [...rs, { ...first(rs, 'dead-relu', 'dead_units'), metric: 'dead_neurons' }] } },
  { what: 'a share above 1', rule: 'range', says: /dead_units is 1\.5, not a share/, change: { rows: (rs) => rs.map((r) => (r === first(rs, 'dead-relu', 'dead_units') ? { ...r, value: 1.5 } : r)) } },
  { what: 'a negative norm', rule: 'range', says: /w_grad_norm is -1, not ≥ 0/, change: { rows: (rs) => rs.map((r) => (r === first(rs, 'gradients', 'w_grad_norm') ? { ...r, value: -1 } : r)) } },
  { what: 'distribution off its schedule', rule: 'schedule', says: /distribution runs every 3 steps/, change: { rows: (rs) => [...rs, { ...first(rs, 'distribution', 'z_p50'), step: 1 }] } },
  { what: 'a sampled probe off --every', rule: 'schedule', says: /not a probed step \(config\.every 10\)/, change: { rows: (rs) => [...rs, { ...first(rs, 'gradients', 'w_grad_norm'), step: 3 }] } },
  { what: 'per-unit activity off its windows', rule: 'schedule', says: /unit-activity windows start at steps 0, 1, 4.*not windows of 1\/10 or 1\/20 epoch/, change: { rows: (rs) => rs.map((r) => (r.probe === 'unit-activity' && r.step === 0 && r.epoch === 1 ? { ...r, step: 1 } : r)) } },
  { what: 'a row twice', rule: 'rows', says: /more than one row/, change: { rows: (rs) => [...rs, first(rs, 'loss', 'loss')] } },
  { what: 'a layer without its size', rule: 'facts', says: /facts\.layers\[1\] fanIn\/fanOut/, change: { facts: (f) => ({ ...f, layers: (f.layers as Record<string, unknown>[]).map((l, i) => (i === 1 ? { ...l, fanOut: undefined } : l)) }) } },
  { what: 'progress counting other epochs than the rows', rule: 'progress', says: /timing rows for 2 epochs, epochsDone 3/, change: { progress: (p) => ({ ...p, epochsDone: 3, epochSeconds: [...p.epochSeconds, 1] }) } },
];

for (const a of ALTERATIONS) {
  test(`the conformance check finds ${a.what}`, () => {
    const r = checkTrace(altered(engine, a.change));
    assert.ok(r.violations.some((v) => v.rule === a.rule && a.says.test(v.detail)), JSON.stringify(r.violations));
  });
}

test('inspect --check exits 1 and names the violation', () => {
  const t = altered(engine, ALTERATIONS[2].change);
  const r = probeCli(['inspect', t.path, '--check']);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /1 violation\(s\) of the trace format/);
  assert.match(r.stdout, /range step \d+ epoch 1 layer \d dead-relu\/dead_units is 1\.5/);
});

test('an attached tfjs model trained by model.fit writes traces that follow the format', async () => {
  const data = loadDataset({ dataDir: FIXTURES, trainLimit: 320, testLimit: 64 });
  const acts = ['relu', 'sigmoid', 'relu'] as const;
  const model = studySequential(acts, initParams({ sizes: [784, 500, 256, 10], activations: acts }, 3), { lr: 0.01, momentum: 0.5 });
  const session = attachProbes(model, { out: tmp(), name: 'attached' });
  const b = new BatchBuilder(data.train, data.lut, data.lutOffset, data.classes).build(Uint32Array.from({ length: 320 }, (_, i) => i), 0, 320);
  // 40 steps an epoch: windows of 4 steps
  await model.fit(b.xb!, b.onehot, { batchSize: 8, epochs: 2, verbose: 0, callbacks: [session.callback] });
  disposeBatch(b);
  session.close();
  model.dispose();
  assert.deepEqual(checkTrace(readTrace(session.path)).violations, []);
});
