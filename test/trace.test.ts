import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Table, tableToIPC, tableFromArrays, tableFromIPC } from 'apache-arrow';
import { readTrace } from '../src/trace/reader.js';
import { TraceWriter } from '../src/trace/writer.js';
import { MetaKey, RunStatus, traceSchema, type RunProgress } from '../src/trace/schema.js';
import { metricRows, summarizeTrace } from '../src/trace/summary.js';
import { ProbeError } from '../src/errors.js';
import { tmp } from './helpers.js';

const progress = (status: RunStatus, epochsDone = 0): RunProgress => ({
  status, epochsDone, stepsDone: 0, updatedAt: '2026-01-01T00:00:00Z', endedAt: null, epochSeconds: [], probeOverhead: null, writeOverhead: null,
});
const header = {
  run: 'relu-sigmoid-relu_s1',
  probes: ['loss', 'eval'],
  metrics: ['loss', 'accuracy', 'test_acc'],
  metadata: { [MetaKey.config]: { epochs: 3 }, [MetaKey.facts]: { run: 'relu-sigmoid-relu_s1', layers: [] } },
};

function writeRows(w: TraceWriter, from: number, to: number, epoch: number) {
  const p = w.probeId('loss'), m = w.metricId('loss'), a = w.metricId('accuracy');
  for (let s = from; s < to; s++) {
    w.append(s, epoch, 0, p, m, 1 / (s + 1));
    w.append(s, epoch, 2, p, a, s % 7);
  }
}

test('trace round-trips: every row written is read back in order with its dictionaries and metadata', () => {
  const path = join(tmp(), 't.arrow');
  const w = TraceWriter.create(path, header, progress(RunStatus.running), { batchRows: 100 });
  writeRows(w, 0, 1234, 1);
  w.append(1234, 1, 0, w.probeId('eval'), w.metricId('test_acc'), 0.5);
  w.close(progress(RunStatus.complete, 1));
  const t = readTrace(path);
  assert.equal(t.columns.length, 2 * 1234 + 1);
  assert.equal(t.status, 'complete');
  assert.equal(t.truncated, false);
  assert.equal(t.recovered, false);
  assert.deepEqual(t.config.raw, { epochs: 3 });
  assert.equal(t.config.epochs, 3);
  assert.equal(t.run, 'relu-sigmoid-relu_s1');
  for (let s = 0; s < 1234; s++) {
    assert.equal(t.columns.step[2 * s], s);
    assert.equal(t.columns.value[2 * s], Math.fround(1 / (s + 1)));
    assert.equal(t.columns.layer[2 * s + 1], 2);
    assert.equal(t.columns.value[2 * s + 1], s % 7);
  }
  assert.deepEqual(metricRows(t, 'eval', 'test_acc').value, [0.5]);
  assert.deepEqual(summarizeTrace(t).epochs.map((e) => e.testAcc), [0.5]);
});

test('a file cut anywhere inside a checkpoint write still reads, keeping every row of the previous checkpoint', () => {
  const dir = tmp();
  const path = join(dir, 't.arrow');
  const w = TraceWriter.create(path, header, progress(RunStatus.running), { batchRows: 64 });
  writeRows(w, 0, 300, 1);
  w.checkpoint(progress(RunStatus.running, 1));
  const first = readFileSync(path);
  const rowsAtFirst = readTrace(path).columns.length;
  writeRows(w, 300, 700, 2);
  w.close(progress(RunStatus.complete, 2));
  const full = readFileSync(path);
  // the new write starts where the first checkpoint's footer started
  let start = 0;
  while (first[start] === full[start]) start++;
  let recoveredSome = 0;
  for (let cut = start; cut < full.length; cut += 97) {
    const p = join(dir, `cut${cut}.arrow`);
    writeFileSync(p, full.subarray(0, cut));
    const t = readTrace(p);
    assert.equal(t.truncated, true, `cut at ${cut}`);
    assert.equal(t.recovered, true);
    assert.ok(t.columns.length >= rowsAtFirst, `cut at ${cut}: ${t.columns.length} rows < ${rowsAtFirst}`);
    for (let i = 0; i < rowsAtFirst; i++) assert.equal(t.columns.step[i], Math.floor(i / 2));
    if (t.columns.length > rowsAtFirst) recoveredSome++;
  }
  assert.ok(recoveredSome > 0, 'batches written after the checkpoint are recovered too');
});

test('a run that stops between checkpoints leaves the last checkpoint as a complete-looking file marked running', () => {
  const path = join(tmp(), 't.arrow');
  const w = TraceWriter.create(path, header, progress(RunStatus.running), { batchRows: 64 });
  writeRows(w, 0, 100, 1);
  w.checkpoint(progress(RunStatus.running, 1));
  writeRows(w, 100, 150, 2); // buffered, never checkpointed: lost, as after kill -9
  const t = readTrace(path);
  assert.equal(t.columns.length, 200);
  assert.equal(t.status, 'running');
  assert.equal(t.truncated, true);
  assert.equal(t.recovered, false);
  assert.equal(t.progress?.epochsDone, 1);
});

test('the writer refuses to overwrite, refuses after close, and rejects names outside its dictionaries', () => {
  const path = join(tmp(), 't.arrow');
  const w = TraceWriter.create(path, header, progress(RunStatus.running));
  assert.throws(() => TraceWriter.create(path, header, progress(RunStatus.running)), (e: ProbeError) => e.code === 'E_EXISTS' && /already exists: pass \{ force: true \}/.test(e.message) && /already exists: pass --force/.test(e.flagMessage));
  assert.throws(() => w.probeId('nope'), /probe 'nope' is not in the file's dictionary/);
  assert.throws(() => w.metricId('nope'), /metric 'nope'/);
  w.close(progress(RunStatus.complete));
  assert.throws(() => w.append(0, 1, 0, 0, 0, 1), /trace writer is closed/);
  const again = TraceWriter.create(path, header, progress(RunStatus.running), { force: true });
  again.close(progress(RunStatus.complete));
  assert.equal(readTrace(path).columns.length, 0);
});

test('reading rejects files that are not traces, with the reason in one line', () => {
  const dir = tmp();
  const junk = join(dir, 'junk.arrow');
  writeFileSync(junk, 'hello, not arrow at all');
  assert.throws(() => readTrace(junk), /junk.arrow is not a probe trace: not an Arrow IPC file/);
  assert.throws(() => readTrace(join(dir, 'missing.arrow')), /no such trace file/);
  const other = join(dir, 'other.arrow');
  writeFileSync(other, tableToIPC(tableFromArrays({ a: Float32Array.of(1, 2) }), 'file'));
  assert.throws(() => readTrace(other), /other.arrow is not a probe trace: no 'probe.trace_version'/);
  const magicOnly = join(dir, 'magic.arrow');
  writeFileSync(magicOnly, Buffer.from('ARROW1\0\0garbage-garbage'));
  assert.throws(() => readTrace(magicOnly), /magic.arrow is not a probe trace: its footer is damaged/);
  for (const e of [junk, other]) assert.ok(existsSync(e));
});

test('reading a trace of another schema version names both versions', () => {
  const path = join(tmp(), 't.arrow');
  const future = traceSchema(new Map([[MetaKey.version, '9'], [MetaKey.facts, '{"run":"x"}']]));
  writeFileSync(path, tableToIPC(new Table(future), 'file'));
  assert.throws(() => readTrace(path), /has trace schema version 9; this probe reads version 1/);
});

test('more probe or metric names than the trace columns can code is a ProbeError naming the count, before any file is written', () => {
  const dir = tmp();
  const path = join(dir, 'big.arrow');
  const base = { run: 'big', probes: ['p'], metrics: ['m'], metadata: {} };
  const tooMany = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
  for (const header of [{ ...base, probes: tooMany(128, 'p') }, { ...base, metrics: tooMany(32768, 'm') }]) {
    assert.throws(() => TraceWriter.create(path, header, progress(RunStatus.running)), (e: unknown) => e instanceof ProbeError && e.code === 'E_TRACE' && /(128 probe|32768 metric) names do not fit/.test(e.message));
    assert.equal(existsSync(path), false);
  }
});

test('the stored config reads back typed: a RunConfig only when its fields and hash agree', async () => {
  const { readStoredConfig } = await import('../src/trace/stored-config.js');
  const { resolveConfig, configHash } = await import('../src/config.js');
  const run = resolveConfig({ combo: 'relu-sigmoid-relu', seed: 3, bn: 'last', epochs: 4 });
  const stored = JSON.parse(JSON.stringify({ ...run, configHash: configHash(run) }));
  const c = readStoredConfig(stored);
  assert.equal(c.source, 'probe');
  assert.deepEqual(c.run, run);
  assert.deepEqual([c.epochs, c.bn, c.dataset, c.configHash], [4, 'last', 'mnist', configHash(run)]);
  // edited after writing: the hash no longer matches, so it is not passed off as a RunConfig
  const edited = readStoredConfig({ ...stored, lr: 0.5 });
  assert.equal(edited.run, null);
  assert.equal(edited.source, 'unknown');
  assert.equal(edited.epochs, 4, 'the common figures are still read');
  // a field of the wrong type, or one missing (an older probe), is not a RunConfig either
  assert.equal(readStoredConfig({ ...stored, epochs: '4' }).run, null);
  const { every: _e, ...older } = stored;
  void _e;
  assert.equal(readStoredConfig(older).run, null);
  // attached models keep their own shape, typed where it overlaps
  const a = readStoredConfig({ source: 'model-file', modelFile: 'm/model.json', epochs: 2, batch: 16, dataset: 'fashion' });
  assert.deepEqual([a.source, a.run, a.epochs, a.batch, a.dataset, a.bn, a.raw.modelFile], ['model-file', null, 2, 16, 'fashion', 'none', 'm/model.json']);
  for (const junk of [null, 3, 'x', [1]]) assert.deepEqual(readStoredConfig(junk).raw, {});
});

/**
 * The body's buffers as the Arrow format lays them out when compressed, read here without
 * arrow-js's reader: each non-empty buffer is an int64 uncompressed length (−1: stored as is) and
 * an LZ4 frame. arrow-js 21's own compressed writer put the compressed length there, which pyarrow
 * rejects; this checks the bytes the writer really emits.
 */
test('record batches are LZ4_FRAME-compressed with each buffer prefixed by its uncompressed length', async () => {
  const { Message } = await import('apache-arrow/ipc/metadata/message');
  const { Footer } = await import('apache-arrow/ipc/metadata/file');
  const { CompressionType, MessageHeader } = await import('apache-arrow');
  const { createRequire } = await import('node:module');
  const lz4 = createRequire(import.meta.url)('lz4js') as { decompress(b: Uint8Array): Uint8Array };
  const path = join(tmp(), 't.arrow');
  const w = TraceWriter.create(path, header, progress(RunStatus.running), { batchRows: 500 });
  writeRows(w, 0, 1000, 1);
  w.close(progress(RunStatus.complete, 1));
  const buf = readFileSync(path);
  const footerLen = buf.readInt32LE(buf.length - 10);
  const footer = Footer.decode(buf.subarray(buf.length - 10 - footerLen, buf.length - 10));
  let checked = 0, compressed = 0;
  for (const block of footer.recordBatches()) {
    const at = Number(block.offset);
    // an encapsulated message: 0xFFFFFFFF, the metadata's length, the metadata, then the body
    const metaLen = buf.readInt32LE(at + 4);
    const msg = Message.decode(buf.subarray(at + 8, at + 8 + metaLen));
    assert.equal(msg.headerType, MessageHeader.RecordBatch);
    const rb = msg.header() as { length: number; compression: { type: number } | null; buffers: { offset: number; length: number }[] };
    if (rb.length === 0) continue;
    assert.equal(rb.compression?.type, CompressionType.LZ4_FRAME);
    const body = at + Number(block.metaDataLength);
    for (const region of rb.buffers) {
      if (region.length === 0) continue;
      const start = body + Number(region.offset);
      const stated = Number(buf.readBigInt64LE(start));
      const data = buf.subarray(start + 8, start + Number(region.length));
      if (stated === -1) continue;
      assert.equal(lz4.decompress(data).length, stated, 'the prefix is the uncompressed length');
      compressed++;
    }
    checked++;
  }
  assert.equal(checked, 4);
  assert.ok(compressed >= 2 * 5, `${compressed} compressed buffers`);
  // and the rows come back
  const t = readTrace(path);
  assert.equal(t.columns.length, 2000);
  assert.equal(t.columns.value[2 * 999], Math.fround(1 / 1000));
});

test('a trace written before compression (plain Arrow IPC, as probe wrote until 2026-12) still reads', () => {
  const dir = tmp();
  const path = join(dir, 'new.arrow');
  const w = TraceWriter.create(path, header, progress(RunStatus.running), { batchRows: 100 });
  writeRows(w, 0, 300, 1);
  w.close(progress(RunStatus.complete, 1));
  // arrow-js writes without compression unless asked: the file an older probe left
  const old = join(dir, 'old.arrow');
  writeFileSync(old, tableToIPC(tableFromIPC(readFileSync(path)), 'file'));
  assert.ok(readFileSync(old).length > readFileSync(path).length, 'the rewritten file is the uncompressed one');
  const a = readTrace(path), b = readTrace(old);
  assert.deepEqual([...b.columns.value], [...a.columns.value]);
  assert.deepEqual([...b.columns.step], [...a.columns.step]);
  assert.equal(b.status, 'complete');
  assert.equal(b.run, a.run);
});
