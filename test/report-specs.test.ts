import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import { readTrace } from '../src/trace/reader.js';
import { digestTrace } from '../src/read/digest.js';
import { buildDatasets } from '../src/report/datasets.js';
import { testHypotheses } from '../src/study/hypotheses.js';
import { panels, REPORT_NEEDS } from '../src/report/panels.js';
import { toSvg } from '../src/report/render.js';
import { writeSyntheticTrace } from './synthetic.js';
import { ROOT, tmp } from './helpers.js';

function fixtureReport() {
  const dir = tmp();
  const paths = [
    writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.11, deadRows: 0.9, sat: 0.2 }),
    writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed: 2, acc: 0.35, deadRows: 0.6, sat: 0.3 }),
    writeSyntheticTrace(dir, { combo: 'relu-relu-relu', seed: 1, acc: 0.97, deadRows: 0.01 }),
    writeSyntheticTrace(dir, { combo: 'tanh-sigmoid-tanh', seed: 1, acc: 0.96, sat: 0.1 }),
  ];
  const digests = paths.map((p) => digestTrace(readTrace(p), REPORT_NEEDS));
  const hyps = testHypotheses(digests);
  const d = buildDatasets(digests, hyps);
  return { d, ...panels(d, { probes: new Set(['loss', 'dead-relu', 'saturation', 'gradients', 'distribution']), h1: true, h2: true, deaths: true }) };
}

/** Rounds every float so snapshots do not break on the last digit. */
function rounded(v: unknown): unknown {
  if (typeof v === 'number') return Number.isInteger(v) ? v : Number(v.toFixed(3));
  if (Array.isArray(v)) return v.map(rounded);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, rounded(x)]));
  return v;
}

test('every report spec is valid against the Vega-Lite JSON schema', () => {
  const schema = JSON.parse(readFileSync(join(ROOT, 'node_modules', 'vega-lite', 'build', 'vega-lite-schema.json'), 'utf8'));
  const ajv = new Ajv.default({ strict: false, allErrors: false });
  const validate = ajv.compile(schema);
  assert.equal(validate({ mark: 'lines', encoding: { x: { field: 'a', type: 'quantitative' } } }), false, 'the validator rejects a bad mark');
  const { d, panels: ps } = fixtureReport();
  assert.ok(ps.length >= 8);
  for (const p of ps) {
    const spec = { ...p.spec, datasets: Object.fromEntries(p.data.map((n) => [n, d[n]])) };
    assert.ok(validate(spec), `${p.id}: ${ajv.errorsText(validate.errors)}`);
  }
});

test('report specs and hypothesis tables match their snapshot (floats rounded)', () => {
  const { d, panels: ps } = fixtureReport();
  const snap = rounded({ specs: Object.fromEntries(ps.map((p) => [p.id, p.spec])), picks: d.picks, claims: d.claims, grid: d.grid, runs: d.runs });
  const file = join(ROOT, 'test', 'snapshots', 'report-specs.json');
  // a missing snapshot fails (CI must not write its own expectation); UPDATE_SNAPSHOTS=1 writes it
  if (process.env.UPDATE_SNAPSHOTS === '1') writeFileSync(file, JSON.stringify(snap, null, 1) + '\n');
  assert.ok(existsSync(file), `${file} is missing: run this test with UPDATE_SNAPSHOTS=1 to write it, check it and commit it`);
  assert.deepEqual(snap, JSON.parse(readFileSync(file, 'utf8')));
});

test('every spec renders headless to an SVG with marks', async () => {
  const { d, panels: ps } = fixtureReport();
  for (const p of ps) {
    const svg = await toSvg({ ...p.spec, datasets: Object.fromEntries(p.data.map((n) => [n, d[n]])) } as never);
    assert.match(svg, /^<svg/);
    assert.ok(/class="mark-(line|rect|symbol|tick|rule|text)/.test(svg), `${p.id} has marks`);
  }
});
