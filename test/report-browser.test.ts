import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { buildReport } from '../src/report/index.js';
import { writeSyntheticTrace } from './synthetic.js';
import { ROOT, tmp } from './helpers.js';

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

test('the report page renders every chart in headless Chromium, offline, without console errors', async (t) => {
  const exe = process.env.PROBE_CHROMIUM;
  if (!exe) return t.skip('PROBE_CHROMIUM unset: npm test sets it after installing Debian chromium (scripts/chromium.sh)');
  const dir = tmp();
  for (const seed of [1, 2, 3]) {
    writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed, acc: 0.1 * seed, deadRows: 0.9, sat: 0.2 });
    writeSyntheticTrace(dir, { combo: 'relu-relu-relu', seed, acc: 0.97, deadRows: 0.01 });
    writeSyntheticTrace(dir, { combo: 'relu-sigmoid-tanh', seed, acc: 0.96, sat: 0.1 });
  }
  const r = await buildReport([dir], { noImages: true });
  const browser = await chromium.launch({ executablePath: exe, args: ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('request', (req) => { if (!/^(file|data|blob|about):/.test(req.url())) problems.push(`network request: ${req.url()}`); });
    const t0 = Date.now();
    await page.goto(pathToFileURL(join(r.out, 'index.html')).href);
    await page.waitForFunction(() => document.body.dataset.rendered || document.body.dataset.error, null, { timeout: 60_000 });
    const renderMs = Date.now() - t0;
    assert.equal(await page.evaluate(() => document.body.dataset.error ?? null), null);
    const marks = await page.$$eval('.chart', (els) => els.map((el) => ({
      id: (el as HTMLElement).dataset.panel,
      marks: el.querySelectorAll('.mark-line path, .mark-area path, .mark-rect path, .mark-symbol path, .mark-tick path, .mark-rule line, .mark-text text').length,
    })));
    assert.equal(marks.length, r.panels.length);
    for (const m of marks) assert.ok(m.marks > 0, `chart ${m.id} drew nothing`);
    // the page-wide selector redraws the per-run charts
    const before = await page.$eval('#chart-run-training .mark-line path', (p) => p.getAttribute('d'));
    const options = await page.$$eval('#pick option', (os) => os.map((o) => (o as HTMLOptionElement).value));
    await page.selectOption('#pick', options.find((o) => o.startsWith('relu-relu-relu'))!);
    await page.waitForFunction((b) => document.querySelector('#chart-run-training .mark-line path')?.getAttribute('d') !== b, before, { timeout: 10_000 });
    // the distribution panel draws its three bands and the median for every layer of the run
    const bands = await page.$$eval('#chart-run-distribution .mark-area path', (ps) => ps.length);
    assert.equal(bands, 3 * 3 * 2, 'three bands × three layers × (z, a)');
    // overlay: all seeds of the chosen combination on the same line charts, then every run
    const lines = () => page.$$eval('#chart-run-dead-relu .mark-line path', (ps) => ps.length);
    const one = await lines();
    await page.selectOption('#overlay', 'seeds');
    await page.waitForFunction((n) => document.querySelectorAll('#chart-run-dead-relu .mark-line path').length !== n, one, { timeout: 10_000 });
    assert.equal(await lines(), 3 * one, 'three seeds of relu-relu-relu');
    await page.selectOption('#overlay', 'none');
    await page.selectOption('#also', options.find((o) => o.startsWith('relu-sigmoid-relu'))!);
    await page.waitForFunction((n) => document.querySelectorAll('#chart-run-dead-relu .mark-line path').length !== n, 3 * one, { timeout: 10_000 });
    // the second run adds its ReLU layers (1 and 3) to the three grains
    assert.ok(await lines() > one, 'the second run is drawn too');
    // legends name layers by activation, and no legend title is clipped after switching runs
    const legend = await page.$$eval('#chart-run-dead-relu .role-legend-label text', (ts) => ts.map((t) => t.textContent));
    assert.ok(legend.includes('3 · relu (out)'), legend.join(', '));
    const title = await page.$eval('#chart-run-dead-relu .role-legend-title text', (t) => t.textContent);
    assert.equal(title, 'layer');
    const clipped = await page.$$eval('.chart svg', (svgs) => svgs.filter((s) => {
      const box = s.getBoundingClientRect();
      return Array.from(s.querySelectorAll('.role-legend text')).some((t) => t.getBoundingClientRect().right > box.right + 0.5);
    }).length);
    assert.equal(clipped, 0, 'legend text inside its chart');
    // the same dashboard script as probe watch: each chart offers its rows as CSV and vega-embed's PNG/SVG menu
    assert.equal(await page.$$eval('figure a.csv', (as) => as.length), r.panels.length);
    assert.equal(await page.$$eval('.chart details .vega-actions', (ds) => ds.length), r.panels.length);
    assert.deepEqual(problems, []);
    mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true });
    await page.screenshot({ path: join(ROOT, 'test-artifacts', 'report.png'), fullPage: true });
    t.diagnostic(`page ${(r.htmlBytes / 1e6).toFixed(2)} MB, ${r.panels.length} charts rendered in ${renderMs} ms`);
  } finally {
    await browser.close();
  }
});
