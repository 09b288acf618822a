/**
 * `npm run bench -- --report` (or `node dist/bench/report.js`): the report over a study-sized
 * input — 64 combinations × 1 seed × 10 epochs × 1875 steps of per-step traces (synthetic values,
 * real sizes) — timing each phase, the page's size, and its render time in headless Chromium.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildReport } from '../src/report/index.js';
import { allCombos } from '../src/sweep/grid.js';
import { ACTIVATIONS } from '../src/activations/index.js';
import { writeSyntheticTrace } from '../test/synthetic.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const log = (s: string) => process.stderr.write(s + '\n');
const dir = mkdtempSync(join(tmpdir(), 'probe-bench-report-'));
try {
  const combos = allCombos(ACTIVATIONS, 3);
  let t = performance.now();
  combos.forEach((combo, i) => {
    const [, b, c] = combo.split('-');
    const target = b === 'sigmoid' && c === 'relu';
    writeSyntheticTrace(dir, { combo, seed: 1, acc: target ? 0.2 : 0.95, deadRows: c === 'relu' ? (target ? 0.8 : 0.05) : undefined, sat: b !== 'relu' ? 0.1 : undefined, epochs: 10, stepsPerEpoch: 1875 });
    if (i % 16 === 15) log(`  wrote ${i + 1}/64 traces`);
  });
  const writeS = (performance.now() - t) / 1000;
  const bytes = readdirSync(dir).reduce((s, f) => s + statSync(join(dir, f)).size, 0);
  t = performance.now();
  const r = await buildReport([dir], { noImages: false });
  const reportS = (performance.now() - t) / 1000;
  let renderMs: number | null = null;
  const chromium = spawnSync('bash', [join(ROOT, 'scripts', 'chromium.sh')], { encoding: 'utf8' }).stdout.trim();
  if (chromium) {
    const { chromium: pw } = await import('playwright-core');
    const browser = await pw.launch({ executablePath: chromium, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const t0 = Date.now();
    await page.goto(pathToFileURL(join(r.out, 'index.html')).href);
    await page.waitForFunction(() => document.body.dataset.rendered || document.body.dataset.error, null, { timeout: 120_000 });
    renderMs = Date.now() - t0;
    await browser.close();
  }
  process.stdout.write(`\n### Report over a study-sized sweep (64 runs × 10 epochs × 1875 steps, synthetic values)\n\n`);
  process.stdout.write(`traces: ${(bytes / 1e6).toFixed(0)} MB on disk, written in ${writeS.toFixed(1)} s\n`);
  process.stdout.write(`probe report (read, digest, test, 9 charts as .vl.json + .svg + .png, page): ${reportS.toFixed(1)} s\n`);
  process.stdout.write(`index.html: ${(r.htmlBytes / 1e6).toFixed(2)} MB (vega, vega-lite, vega-embed inlined: 0.83 MB of it); every chart rendered in headless Chromium ${renderMs === null ? '(skipped: no chromium)' : `in ${(renderMs / 1000).toFixed(1)} s`}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
