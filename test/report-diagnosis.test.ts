/**
 * The report opens with what is wrong, for any network; the study's H1/H2 sections follow only
 * for runs of its MLP; failure at chance needs no controls; verdicts on short runs say so; an
 * attached model's data is never called mnist; "older probe" only for traces that are older.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildReport } from '../src/report/index.js';
import { watchPage } from '../src/watch/page.js';
import { WatchedFolder } from '../src/watch/folder.js';
import { digestTrace, NO_CHARTS } from '../src/read/digest.js';
import { readTrace } from '../src/trace/reader.js';
import { writeSyntheticTrace } from './synthetic.js';
import { deadLayerModel } from './built-trace.js';
import { tmp } from './helpers.js';

test('report of an attached model: what is wrong first, no H1/H2 section, no sweep advice, no "older probe", failing at chance', async () => {
  const dir = tmp();
  deadLayerModel(dir);
  const r = await buildReport([dir], { noImages: true });
  const html = readFileSync(join(r.out, 'index.html'), 'utf8');
  const body = html.slice(html.indexOf('<body>'));
  const wrong = body.indexOf('id="what-is-wrong"');
  assert.ok(wrong > 0 && wrong < body.indexOf('<h2>', body.indexOf('<h2>') + 1), 'the diagnosis is the first section');
  assert.match(body, /tanh-relu-softmax: failing: test accuracy 9\.8% is at or near chance/);
  assert.match(body, /layer 2 \(relu\): 61 of 64 units dead for every input since step 0/);
  for (const absent of [/id="study"/, /class="hyp"/, /Hypotheses/, /Prevalence/, /Interventions/, /probe sweep/, /older probe/, /inconclusive/]) assert.doesNotMatch(body, absent);
  assert.equal(r.study, false);
  assert.equal(r.health[0].verdict.failing, true);
});

test("an attached model's data is named by its caller, never mnist by default", () => {
  const dir = tmp();
  const none = digestTrace(readTrace(deadLayerModel(dir)), NO_CHARTS);
  assert.equal(none.dataset, 'synthetic', "the facts' dataset (attachProbes' `dataset` option)");
  const d2 = tmp();
  const named = digestTrace(readTrace(deadLayerModel(d2, { config: { dataset: 'fashion-mnist' } })), NO_CHARTS);
  assert.equal(named.dataset, 'fashion-mnist');
  const d3 = tmp();
  const unknown = digestTrace(readTrace(deadLayerModel(d3, { dataset: 'unknown' })), NO_CHARTS);
  assert.equal(unknown.dataset, 'data not recorded');
  assert.doesNotMatch(unknown.variant, /mnist/);
});

test('a study run at chance fails without controls, and the page says by which rule', async () => {
  const dir = tmp();
  writeSyntheticTrace(dir, { combo: 'sigmoid-sigmoid-relu', seed: 1, acc: 0.098, deadRows: 0.99 });
  writeSyntheticTrace(dir, { combo: 'relu-relu-relu', seed: 1, acc: 0.5 });
  const r = await buildReport([dir], { noImages: true });
  const html = readFileSync(join(r.out, 'index.html'), 'utf8');
  const runs = JSON.parse(/<script id="probe-data" type="application\/json">(.*?)<\/script>/s.exec(html)![1]).data.runs;
  const i = runs.run.d.indexOf('sigmoid-sigmoid-relu_s1');
  const at = runs.run.i.indexOf(i);
  assert.equal(runs.failed[at], true, 'failed: at chance, although there are no controls');
  assert.match(runs.failedHow.d[runs.failedHow.i[at]], /at or near chance \(10 classes: at most 1\/10 \+ 10 points = 20\.0%\)/);
  assert.equal(r.prevalences[0].targetFailing, 1, 'the target run counts as failing in the prevalence too');
  assert.match(html, /<td title="failing: test accuracy 9\.8% is at or near chance[^"]*">fails<\/td>/);
});

test("verdicts on runs shorter than the study's schedule say so in their header", async () => {
  const dir = tmp();
  for (const seed of [1, 2, 3]) writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed, acc: 0.1, deadRows: 0.9, sat: 0.2 });
  const r = await buildReport([dir], { noImages: true });
  const html = readFileSync(join(r.out, 'index.html'), 'utf8');
  // 3 epochs of 640 samples (synthetic: 20 steps of 32)
  assert.match(r.studyShort.mnist, /^3 of 3 runs are shorter than the study's schedule: 1,920 training samples, the study's is 600,000 \(10 epochs of 60,000\)/);
  const headers = [...html.matchAll(/<h3>(.*?)<\/h3>/g)].map((m) => m[1]).filter((h) => /H[12]:|Prevalence/.test(h));
  assert.equal(headers.length, 3);
  for (const h of headers) assert.match(h, /short runs<\/span> <span class="meta short-note">3 of 3 runs are shorter/);
});

test("probe watch's page opens on what is wrong too: under its panel of runs, before any chart; no H1/H2 section for an attached model", () => {
  const dir = tmp();
  deadLayerModel(dir);
  const html = watchPage(new WatchedFolder(dir).scan(), dir, 1);
  const body = html.slice(html.indexOf('<body>'));
  const wrong = body.indexOf('<section id="what-is-wrong">');
  assert.ok(wrong > body.indexOf('id="watch"'), 'below the live panel of runs');
  assert.ok(wrong < body.indexOf('<figure'), 'before the first chart');
  assert.match(body.slice(wrong), /^[\s\S]*?layer 2 \(relu\): 61 of 64 units dead for every input since step 0/);
  for (const absent of [/id="study"/, /class="hyp"/, /probe sweep/, /older probe/]) assert.doesNotMatch(body, absent);
});
