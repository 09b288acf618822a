import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { buildReport } from '../src/report/index.js';
import { compareTraces } from '../src/compare/compare.js';
import { compareHtml } from '../src/compare/html.js';
import { writeSyntheticTrace } from './synthetic.js';
import { deadLayerModel, wrongSideNoiseRun, ZERO_RUN, zeroGradientRun } from './built-trace.js';
import { ROOT, tmp } from './helpers.js';
import { labelsOverData, type SceneNode } from './scene.js';

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** A 1280×900 page whose console errors and warnings, page errors and network requests are listed in `problems`. */
/** Waits for a probe page to say it has drawn its charts (or failed to). */
function rendered(page: Page): Promise<unknown> {
  return page.waitForFunction(() => document.body.dataset.rendered || document.body.dataset.error, null, { timeout: 60_000 });
}

async function watchedPage(browser: Browser): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (req) => { if (!/^(file|data|blob|about):/.test(req.url())) problems.push(`network request: ${req.url()}`); });
  return { page, problems };
}

const NO_CHROMIUM = 'PROBE_CHROMIUM unset: npm test sets it after installing Debian chromium (scripts/chromium.sh)';

/** The Chromium `npm test` installs (scripts/chromium.sh), or null with the test marked skipped: a test takes it before building anything. */
function chromiumOrSkip(t: TestContext): string | null {
  const exe = process.env.PROBE_CHROMIUM;
  if (!exe) t.skip(NO_CHROMIUM);
  return exe || null;
}

/** Opens `file` in a fresh headless Chromium (a watchedPage), waits for its charts, runs `use`, and closes the browser. */
async function onPage(exe: string, file: string, use: (page: Page, problems: string[]) => Promise<void>): Promise<void> {
  const browser = await chromium.launch({ executablePath: exe, args: ARGS });
  try {
    const { page, problems } = await watchedPage(browser);
    await page.goto(pathToFileURL(file).href);
    await rendered(page);
    await use(page, problems);
  } finally {
    await browser.close();
  }
}

/** Skips without Chromium; else writes traces into a fresh folder (`traces`), builds its report and opens it ({@link onPage}). */
async function onReport(t: TestContext, traces: (dir: string) => void, use: (page: Page, problems: string[]) => Promise<void>): Promise<void> {
  const exe = chromiumOrSkip(t);
  if (!exe) return;
  const dir = tmp();
  traces(dir);
  const r = await buildReport([dir], { noImages: true });
  await onPage(exe, join(r.out, 'index.html'), use);
}

/** Saves a screenshot of the element `selector` under test-artifacts/ (for a reader of the test run, not checked). */
async function artifact(page: Page, selector: string, file: string): Promise<void> {
  mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true });
  await (await page.$(selector))!.screenshot({ path: join(ROOT, 'test-artifacts', file) });
}

/** Ticks the page's log scale and waits for its charts to be drawn again. */
async function logView(page: Page): Promise<void> {
  await page.evaluate(() => { document.body.dataset.rendered = ''; const c = document.getElementById('logscale') as HTMLInputElement; c.checked = true; c.dispatchEvent(new Event('change', { bubbles: true })); });
  await page.waitForFunction(() => document.body.dataset.rendered, null, { timeout: 60_000 });
}

test('the report page renders every chart in headless Chromium, offline, without console errors', async (t) => {
  const exe = chromiumOrSkip(t);
  if (!exe) return;
  const dir = tmp();
  for (const seed of [1, 2, 3]) {
    writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed, acc: 0.1 * seed, deadRows: 0.9, sat: 0.2 });
    writeSyntheticTrace(dir, { combo: 'relu-relu-relu', seed, acc: 0.97, deadRows: 0.01 });
    writeSyntheticTrace(dir, { combo: 'relu-sigmoid-tanh', seed, acc: 0.96, sat: 0.1 });
  }
  const r = await buildReport([dir], { noImages: true });
  const browser = await chromium.launch({ executablePath: exe, args: ARGS });
  try {
    const { page, problems } = await watchedPage(browser);
    const t0 = Date.now();
    await page.goto(pathToFileURL(join(r.out, 'index.html')).href);
    await rendered(page);
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
    // overlaid runs are told apart by a legend of runs (their dash), beside the legend of layers
    const runLegend = () => page.$$eval('#chart-run-dead-relu .role-legend', (ls) => ls
      .filter((l) => l.querySelector('.role-legend-title text')?.textContent === 'run')
      .flatMap((l) => Array.from(l.querySelectorAll('.role-legend-label text')).map((t) => t.textContent ?? '')));
    assert.deepEqual((await runLegend()).sort(), options.filter((o) => o.startsWith('relu-relu-relu')).sort(), 'a legend names every overlaid run');
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

test('what is wrong is on the first screen (1280×900) of the page, for an attached model and for a study folder; a model page has no H1/H2 section', async (t) => {
  const exe = chromiumOrSkip(t);
  if (!exe) return;
  const model = tmp(), study = tmp();
  deadLayerModel(model);
  for (const seed of [1, 2, 3]) {
    writeSyntheticTrace(study, { combo: 'sigmoid-sigmoid-relu', seed, acc: 0.098, deadRows: 0.99, deathSteps: Array(10).fill(20) });
    writeSyntheticTrace(study, { combo: 'relu-relu-relu', seed, acc: 0.97, deadRows: 0.01 });
    writeSyntheticTrace(study, { combo: 'relu-sigmoid-tanh', seed, acc: 0.96, sat: 0.1 });
  }
  const browser = await chromium.launch({ executablePath: exe, args: ARGS });
  try {
    for (const [name, dir] of [['model', model], ['study', study]] as const) {
      const r = await buildReport([dir], { noImages: true });
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await page.goto(pathToFileURL(join(r.out, 'index.html')).href);
      await rendered(page);
      // the verdict and every finding shown (the first rows, for several runs) end above the fold, unscrolled
      const seen = await page.evaluate(() => {
        const s = document.getElementById('what-is-wrong');
        const parts = s ? Array.from(s.querySelectorAll(':scope > .verdict, :scope > ul.findings li, :scope > table.diagnoses tbody tr')) : [];
        return { found: parts.length, bottom: Math.max(...parts.map((e) => e.getBoundingClientRect().bottom)), scrollY: window.scrollY, text: s?.innerText ?? '' };
      });
      assert.equal(seen.scrollY, 0);
      assert.ok(seen.found > 0, `${name}: the section has a verdict and findings`);
      assert.ok(seen.bottom <= 900, `${name}: what is wrong ends at ${seen.bottom} px, below the first screen`);
      mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true });
      await page.screenshot({ path: join(ROOT, 'test-artifacts', `first-screen-${name}.png`) });
      if (name === 'model') {
        assert.match(seen.text, /61 of 64 units dead for every input since step 0/);
        assert.equal(await page.$$eval('#study, section.hyp', (els) => els.length), 0, 'no H1/H2 section for a model that is not the study\'s');
      } else {
        assert.match(seen.text, /3 of 9 runs failing/);
        assert.match(seen.text, /sigmoid-sigmoid-relu_s1\s+failing/);
        assert.equal(await page.$$eval('section.hyp', (els) => els.length), 2, 'the study folder keeps its H1/H2 sections, below');
      }
      await page.close();
    }
  } finally {
    await browser.close();
  }
});

test('a gradient exactly 0 at most steps (a dead output ReLU, H1) is drawn as 0 — a strip over the whole run — never as a smoothed decay (H2)', async (t) => {
  await onReport(t, (dir) => zeroGradientRun(dir), async (page) => {
    // smoothing 0.9, as in the issue: the page redraws every chart
    await page.evaluate(() => { document.body.dataset.rendered = ''; const s = document.getElementById('smooth') as HTMLInputElement; s.value = '0.9'; s.dispatchEvent(new Event('change', { bubbles: true })); });
    await page.waitForFunction(() => document.body.dataset.rendered, null, { timeout: 60_000 });
    const drawn = await page.evaluate(() => {
      type Item = { datum?: Record<string, number | string | null>; items?: Item[]; marktype?: string; role?: string; x?: number; x2?: number };
      const view = (window as unknown as { probeCharts: { view(id: string): { scenegraph(): { root: Item } } } }).probeCharts.view('run-gradients');
      const lines: Record<string, number | string | null>[] = [], rects: Record<string, number | string | null>[] = [];
      const walk = (n: Item, type?: string) => {
        const t = n.marktype ?? type;
        if (n.datum && n.role === undefined) (t === 'line' ? lines : t === 'rect' ? rects : []).push(n.datum);
        for (const c of n.items ?? []) walk(c, t);
      };
      walk(view.scenegraph().root);
      const labels = Array.from(document.querySelectorAll('#chart-run-gradients .role-axis-label text')).map((e) => Number((e.textContent ?? '').replace(/,/g, ''))).filter(Number.isFinite);
      return { lines, rects, maxLabel: Math.max(...labels) };
    });
    const grads = drawn.lines.filter((d) => d.metric === 'w_grad_norm' && typeof d.value === 'number');
    assert.ok(grads.length > 0, 'the line is drawn');
    // it breaks at every bucket whose steps are all 0, rather than bridging it
    const breaks = drawn.lines.filter((d) => d.metric === 'w_grad_norm' && d.zero === 1);
    assert.ok(breaks.length > 0 && breaks.every((d) => d.value === null), `the line holds ${breaks.length} all-zero buckets, ${breaks.filter((d) => d.value !== null).length} of them drawn as values`);
    // no decay: every point drawn is a size the gradient had (≥ the smallest nonzero value, 0.004), never a mean pulled towards 0
    const low = Math.min(...grads.map((d) => d.value as number));
    assert.ok(low >= ZERO_RUN.after * 0.99, `a drawn gradient of ${low}: a smoothed or averaged decay into the zeros`);
    // and where a bucket holds zeros, the line is not smoothed across it (its value is the bucket's own)
    for (const d of grads) if ((d.zero as number) > 0) assert.equal(d.value, d.nz, `bucket at ${d.step}: drawn ${d.value}, its own steps' mean ${d.nz}`);
    // the zeros themselves: one strip mark per bucket holding them, per layer, reaching the end of the run
    const strip = drawn.rects.filter((d) => d.metric === 'w_grad_norm');
    const buckets = Math.ceil(ZERO_RUN.steps / Math.ceil(ZERO_RUN.steps / 200));
    assert.ok(strip.length >= 3 * (buckets - 6), `${strip.length} strip marks for ${buckets} buckets × 3 layers`);
    assert.ok(Math.max(...strip.map((d) => d.stepEnd as number)) >= ZERO_RUN.steps - 1, 'the strip reaches the last step');
    assert.ok(Math.min(...strip.map((d) => d.step as number)) <= ZERO_RUN.diesAt, 'and starts where the layer died');
    assert.ok(strip.filter((d) => d.zero === 1).length > strip.length / 2, 'most buckets are all zeros');
    assert.ok(drawn.maxLabel >= 5000, `the x axis spans the run (last label ${drawn.maxLabel})`);
    await artifact(page, '#chart-run-gradients', 'zero-gradients.png');
  });
});

test('a wrong-side saturation of ~0.5% is drawn in the browser under its rule\'s dashed line at 0.5, labelled, its axis from 0 to the line', async (t) => {
  await onReport(t, (dir) => wrongSideNoiseRun(dir), async (page, problems) => {
    const seen = () => page.evaluate(() => {
      const view = (window as unknown as { probeCharts: { view(id: string): { scale(n: string): { domain(): number[] } } } }).probeCharts.view('run-saturation');
      return {
        // the charts left to right: sat_frac, sat_wrong_frac, mean_deriv
        domain: view.scale('concat_1_concat_0_y').domain(),
        labels: Array.from(document.querySelectorAll('#chart-run-saturation .mark-text text')).map((e) => e.textContent ?? ''),
        dashed: document.querySelectorAll('#chart-run-saturation .mark-rule line[stroke-dasharray]').length,
      };
    });
    for (const log of [false, true]) {
      if (log) await logView(page);
      const s = await seen();
      assert.ok(s.domain[1] >= 0.5, `${log ? 'log' : 'linear'} axis ends at ${s.domain[1]}, under the threshold`);
      if (!log) assert.equal(s.domain[0], 0, 'a share axis starts at 0');
      assert.equal(s.dashed, 2, 'one dashed line and its sample in the key under the chart: the output\'s sat_frac has none');
      assert.ok(s.labels.some((l) => /what is wrong.*saturated above 0\.5/.test(l)), s.labels.join(' | '));
    }
    assert.deepEqual(problems, []);
    await artifact(page, '#chart-run-saturation', 'saturation-threshold.png');
  });
});

test('in the browser, a share exactly 0 at every step (dead_rows of a healthy run) is a line on the floor of an axis from 0 to 0.1 with its ticks, not halfway up beside a lone "0"', async (t) => {
  await onReport(t, (dir) => wrongSideNoiseRun(dir), async (page, problems) => {
    const seen = await page.evaluate(() => {
      type N = { items?: N[]; marktype?: string; y?: number; datum?: Record<string, unknown>; role?: string; text?: unknown };
      const view = (window as unknown as { probeCharts: { view(id: string): { scale(n: string): { domain(): number[] }; scenegraph(): { root: N } } } }).probeCharts.view('run-dead-relu');
      const ys: number[] = [], axes: string[][] = [];
      const walk = (n: N, type?: string) => {
        const t = n.marktype ?? type;
        if (t === 'line' && n.datum?.metric === 'dead_rows') ys.push(n.y as number);
        if (n.role === 'axis-label') axes.push((n.items ?? []).map((i) => String(i.text)));
        for (const c of n.items ?? []) walk(c, c.marktype ? undefined : t);
      };
      walk(view.scenegraph().root);
      // the charts left to right: inactive_frac, dead_units, dead_rows; the axes per chart: x then y
      return { domain: view.scale('concat_2_concat_0_y').domain(), ys: [...new Set(ys)], yLabels: axes[5] };
    });
    assert.deepEqual(seen.domain, [0, 0.1]);
    assert.deepEqual(seen.ys, [160], 'every point on the floor of the 160 px plot');
    assert.deepEqual(seen.yLabels, ['0', '0.02', '0.04', '0.06', '0.08', '0.1']);
    assert.deepEqual(problems, []);
    await artifact(page, '#chart-run-dead-relu', 'share-all-zero.png');
  });
});

test('in the browser, the sat_wrong_frac chart of a page where one run has a relu output says, with that run chosen, that it records none, on a readable axis, and says nothing with the other run chosen', async (t) => {
  await onReport(t, (dir) => {
    wrongSideNoiseRun(dir, 'relu-relu-sigmoid_s1', ['relu', 'relu', 'sigmoid']);
    wrongSideNoiseRun(dir, 'relu-sigmoid-relu_s1', ['relu', 'sigmoid', 'relu']);
  }, async (page, problems) => {
    const seen = () => page.evaluate(() => ({
      texts: Array.from(document.querySelectorAll('#chart-run-saturation .mark-text text')).map((e) => e.textContent ?? ''),
      titles: Array.from(document.querySelectorAll('#chart-run-saturation .role-title-text text')).map((e) => e.textContent ?? ''),
      // the charts left to right: sat_frac, sat_wrong_frac, mean_deriv
      domain: (window as unknown as { probeCharts: { view(id: string): { scale(n: string): { domain(): number[] } } } }).probeCharts.view('run-saturation').scale('concat_1_concat_0_y').domain(),
    }));
    const none = /no sat_wrong_frac in the chosen run/;
    for (const [pick, says] of [['relu-sigmoid-relu_s1', true], ['relu-relu-sigmoid_s1', false], ['relu-sigmoid-relu_s1', true]] as const) {
      await page.selectOption('#pick', pick);
      // the chart redraws after the selector's change: wait for the state asked (a wrong one times out)
      await page.waitForFunction(([re, want]) => Array.from(document.querySelectorAll('#chart-run-saturation .mark-text text')).some((e) => new RegExp(re).test(e.textContent ?? '')) === want, [none.source, says] as const, { timeout: 10_000 }).catch(() => undefined);
      const s = await seen();
      // a share's axis: 0–0.1 where nothing is drawn; up to What is wrong's line at 0.5 for the sigmoid output
      assert.deepEqual(s.domain, [0, says ? 0.1 : 0.5], pick);
      assert.ok(s.titles.includes('sat_wrong_frac'), `the chart is drawn: ${s.titles.join(' | ')}`);
      assert.equal(s.texts.some((x) => none.test(x)), says, `${pick}: ${s.texts.filter((x) => /sat_wrong/.test(x)).join(' | ')}`);
      if (says) assert.ok(s.texts.some((x) => /it is recorded only for an output/.test(x)), 'and why');
    }
    assert.deepEqual(problems, []);
    await artifact(page, '#chart-run-saturation', 'metric-not-recorded.png');
  });
});

test('in the browser, a threshold\'s label is drawn where no point of the data is, though its line runs through the data (linear and log forms)', async (t) => {
  await onReport(t, (dir) => wrongSideNoiseRun(dir, 'relu-relu-sigmoid_s1', ['relu', 'relu', 'sigmoid'], [{ rule: 'dead-layer', action: 'warn', threshold: 0.05, patience: 50 }]), async (page, problems) => {
    // the chart's scenegraph as plain data (its items hold their marks and groups: cycles)
    const scene = () => page.evaluate(() => {
      type N = { items?: N[]; marktype?: string; x?: number; y?: number; bounds?: { x1: number; y1: number; x2: number; y2: number }; datum?: Record<string, unknown> };
      const copy = (n: N): N => ({
        marktype: n.marktype, x: n.x, y: n.y,
        bounds: n.bounds && { x1: n.bounds.x1, y1: n.bounds.y1, x2: n.bounds.x2, y2: n.bounds.y2 },
        datum: n.datum && Object.fromEntries(['metric', 'value', 'threshold', 'label', 'line'].filter((k) => k in n.datum!).map((k) => [k, n.datum![k]])),
        items: n.items?.map(copy),
      });
      const view = (window as unknown as { probeCharts: { view(id: string): { scenegraph(): { root: N } } } }).probeCharts.view('run-dead-relu');
      return copy(view.scenegraph().root);
    });
    for (const log of [false, true]) {
      if (log) await logView(page);
      const seen = labelsOverData(await scene() as SceneNode, 'dead_units');
      assert.equal(seen.boxes.length, 1, `${log ? 'log' : 'linear'}: the rule is labelled once`);
      assert.match(seen.boxes[0].text, /rule dead-layer \(warn\) fires at ≥ 0\.05/);
      assert.ok(seen.points.length > 100, `${log ? 'log' : 'linear'}: the line is drawn (${seen.points.length} points)`);
      assert.deepEqual(seen.inside, [], `${log ? 'log' : 'linear'}: ${seen.inside.length} points of the data under the label`);
    }
    assert.deepEqual(problems, []);
    await artifact(page, '#chart-run-dead-relu', 'threshold-label.png');
  });
});

test('compare --html renders in headless Chromium, offline, without console errors: both charts draw, and what is wrong with each run is on the first screen', async (t) => {
  const exe = chromiumOrSkip(t);
  if (!exe) return;
  const dir = tmp();
  const paths = [
    ...[1, 2].map((seed) => writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed, acc: 0.098, deadRows: 0.99, deathSteps: Array(10).fill(20) })),
    ...[1, 2].map((seed) => writeSyntheticTrace(dir, { combo: 'relu-relu-relu', seed, acc: 0.97, deadRows: 0.01 })),
  ];
  const c = compareTraces(paths);
  const file = join(dir, 'cmp.html');
  writeFileSync(file, compareHtml(c));
  await onPage(exe, file, async (page, problems) => {
    assert.equal(await page.evaluate(() => document.body.dataset.error ?? null), null);
    const marks = await page.$$eval('.chart', (els) => els.map((el) => ({
      id: (el as HTMLElement).dataset.panel,
      lines: el.querySelectorAll('.mark-line path').length,
      bands: el.querySelectorAll('.mark-area path').length,
    })));
    assert.deepEqual(marks.map((m) => m.id), ['overlay', 'accuracy']);
    // two groups of two seeds: a mean line and a min–max band each, in both charts
    for (const m of marks) {
      assert.equal(m.lines, 2, `chart ${m.id}: one line per group`);
      assert.equal(m.bands, 2, `chart ${m.id}: one band per group`);
    }
    const seen = await page.evaluate(() => {
      const s = document.getElementById('what-is-wrong');
      const parts = s ? Array.from(s.querySelectorAll(':scope > .verdict, :scope > ul.findings li, :scope > table.diagnoses tbody tr')) : [];
      return { found: parts.length, bottom: Math.max(...parts.map((e) => e.getBoundingClientRect().bottom)), scrollY: window.scrollY, text: s?.innerText ?? '' };
    });
    assert.equal(seen.scrollY, 0);
    assert.ok(seen.found > 0, 'the page has a what-is-wrong section with a verdict and findings');
    assert.ok(seen.bottom <= 900, `what is wrong ends at ${seen.bottom} px, below the first screen`);
    assert.match(seen.text, /relu-sigmoid-relu_s1\s+failing/);
    assert.deepEqual(problems, []);
    mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true });
    await page.screenshot({ path: join(ROOT, 'test-artifacts', 'compare.png') });
  });
});
