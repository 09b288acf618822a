import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildReport } from '../src/report/index.js';
import { NUM } from '../src/report/panels.js';
import { writeSyntheticTrace } from './synthetic.js';
import { tmp } from './helpers.js';

test('per-run chart files name their run and carry only its rows; log panels span the run; no float-noise ticks', async () => {
  const dir = tmp();
  for (const seed of [1, 2]) {
    writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed, acc: 0.2, deadRows: 0.9, sat: 0.2 });
    writeSyntheticTrace(dir, { combo: 'relu-relu-relu', seed, acc: 0.9, deadRows: 0.01 });
  }
  const r = await buildReport([dir], { noImages: true });
  const spec = (id: string) => JSON.parse(readFileSync(join(r.out, `${id}.vl.json`), 'utf8'));
  for (const id of r.panels.filter((p) => p.startsWith('run-'))) {
    const s = spec(id);
    assert.equal(s.title.subtitle, 'run relu-sigmoid-relu_s1', id);
    for (const [name, rows] of Object.entries(s.datasets as Record<string, { pick?: string }[]>)) {
      assert.ok(rows.length > 0 && rows.every((x) => x.pick === undefined || x.pick === 'relu-sigmoid-relu_s1'), `${id}: ${name} holds other runs' rows`);
    }
  }
  // a 0 gradient breaks the line but keeps its step in the x extent (it used to be filtered out),
  // and each metric's chart has its strip of steps exactly 0 under it
  const g = spec('run-gradients');
  for (const m of g.hconcat) {
    const [chart, strip] = m.vconcat;
    // the series' layers (a share's chart has its thresholds too, and its floor, an empty layer)
    const line = chart.layer.find((l: { layer?: unknown }) => l.layer);
    assert.ok(!JSON.stringify([g.transform, line.transform]).includes('"filter":"datum.value > 0"'));
    assert.equal(line.layer[0].mark.invalid, 'break-paths-show-domains');
    assert.equal(strip.mark.type, 'rect');
  }
  // integer epochs, no fixed-decimal labels
  const tr = spec('run-training');
  assert.equal(tr.hconcat[1].encoding.x.axis.format, 'd');
  assert.equal(spec('run-dead-relu').hconcat[0].vconcat[0].layer.find((l: { layer?: unknown }) => l.layer).encoding.y.axis.format, NUM.format);
  // legends name layers by activation
  assert.ok(spec('run-dead-relu').datasets.series.some((x: { layerName: string }) => x.layerName === '3 · relu (out)'));
});

test('traces recorded before the distribution probe (or without it) still read and report, with the panel skipped and said so', async () => {
  const dir = tmp();
  for (const seed of [1, 2]) writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed, acc: 0.2, deadRows: 0.9, sat: 0.2, probes: ['loss', 'saturation', 'dead-relu', 'gradients'] });
  const warnings: string[] = [];
  const r = await buildReport([dir], { noImages: true, onWarning: (w) => warnings.push(w) });
  assert.equal(r.runs, 2);
  assert.ok(!r.panels.includes('run-distribution'), r.panels.join(', '));
  assert.ok(r.panels.includes('run-dead-relu'));
  assert.ok(warnings.some((w) => /skipped Distributions: no run recorded the 'distribution' probe/.test(w)), warnings.join('\n'));
  // with one run that has it, the panel is back and shows the bands of that run only
  writeSyntheticTrace(dir, { combo: 'relu-relu-relu', seed: 1, acc: 0.9, deadRows: 0.01 });
  const r2 = await buildReport([dir], { noImages: true, force: true });
  assert.ok(r2.panels.includes('run-distribution'));
});

test('a report over one combination and seed run with two settings says that the statistics count both', async () => {
  const a = writeSyntheticTrace(tmp(), { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.3, deadRows: 0.8 });
  const b = writeSyntheticTrace(tmp(), { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.5, deadRows: 0.4, epochs: 2 });
  const warnings: string[] = [];
  await buildReport([a, b], { noImages: true, out: tmp(), force: true, onWarning: (w) => warnings.push(w) });
  assert.ok(warnings.some((w) => /relu-sigmoid-relu_s1, relu-sigmoid-relu_s1 are one combination and seed with other settings/.test(w)), warnings.join('\n'));
});
