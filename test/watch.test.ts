import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startWatch, isLoopback } from '../src/watch/server.js';
import { rowOf, WatchedFolder } from '../src/watch/folder.js';
import { watchPage } from '../src/watch/page.js';
import { reportModel } from '../src/report/index.js';
import type { TraceMeta } from '../src/trace/reader.js';
import { acquireRunLock } from '../src/trace/run-lock.js';
import { ProbeError } from '../src/errors.js';
import { writeSyntheticTrace } from './synthetic.js';
import { BIN, runCli, tmp } from './helpers.js';
import { readStoredConfig } from '../src/trace/stored-config.js';

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A raw GET: the path goes out as written ('..' and all), which fetch would normalize away. */
function get(url: string, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; body: Buffer }> {
  const u = new URL(url);
  return new Promise((ok, fail) => {
    const req = request({ host: u.hostname, port: u.port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => ok({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    req.on('error', fail);
    req.end();
  });
}

/** Opens the event stream and resolves with the first `state` event's data, leaving the stream open. */
function openStream(url: string): Promise<{ state: { version: number; runs: { run: string; state: string }[] }; close: () => void }> {
  const u = new URL(url);
  return new Promise((ok, fail) => {
    const req = request({ host: u.hostname, port: u.port, path: '/events' }, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buf += c;
        const m = /event: state\ndata: (.*)\n\n/.exec(buf);
        if (m) { ok({ state: JSON.parse(m[1]), close: () => req.destroy() }); buf = ''; }
      });
      res.on('error', () => {});
    });
    req.on('error', (e) => { if (!req.destroyed) fail(e); });
    req.end();
  });
}

test('watch binds only to loopback unless remote access is asked for, and checks its port', async () => {
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) assert.ok(isLoopback(h), h);
  for (const h of ['0.0.0.0', '::', '192.168.1.10', '10.0.0.1', 'example.com', '']) assert.ok(!isLoopback(h), h);
  const dir = tmp();
  await assert.rejects(startWatch(dir, { host: '0.0.0.0' }), (e: ProbeError) => e.code === 'E_USAGE' && /--host 0\.0\.0\.0 is not a loopback address.*--allow-remote/.test(e.message));
  await assert.rejects(startWatch(dir, { port: 70000 }), (e: ProbeError) => e.code === 'E_USAGE' && /--port must be a whole number from 0 to 65535/.test(e.message));
  await assert.rejects(startWatch(join(dir, 'nope')), (e: ProbeError) => e.code === 'E_USAGE' && /cannot watch .*nope: no such folder/.test(e.message));
  const s = await startWatch(dir, { host: '0.0.0.0', allowRemote: true });
  try {
    assert.match(s.url, /^http:\/\/0\.0\.0\.0:\d+\/$/);
    // asked for remote access: requests to any name are answered
    assert.equal((await get(`http://127.0.0.1:${s.port}/`, '/state.json', { Host: 'box.example:1' })).status, 200);
  } finally {
    await s.close();
  }
});

test('bad watch flags: one line naming the value, exit 2, and no work done', async () => {
  const dir = tmp();
  const cases: [string[], RegExp][] = [
    [['watch', dir, '--host', '0.0.0.0'], /^error --host 0\.0\.0\.0 is not a loopback address.*--allow-remote/],
    [['watch', dir, '--port', 'http'], /^error --port must be a whole number from 0 to 65535 \(0 = any free port\), got 'http'/],
    [['watch', join(dir, 'missing')], /^error cannot watch .*missing: no such folder/],
    [['run', 'relu-sigmoid-relu', '--out', join(dir, 'runs'), '--watch', '--watch-host', '192.168.0.1'], /^error --watch-host 192\.168\.0\.1 is not a loopback address/],
    [['sweep', '--combos', 'relu-sigmoid-relu', '--seeds', '1', '--out', join(dir, 'sweep'), '--watch', '--watch-port', '-1'], /^error --watch-port must be a whole number/],
  ];
  for (const [args, want] of cases) {
    const r = await runCli(args);
    assert.equal(r.status, 2, args.join(' '));
    assert.match(r.stderr, want);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  assert.deepEqual(readdirSync(dir), [], 'no folder or trace was made');
});

test('watch serves nothing outside the folder and ignores files that are not traces', async () => {
  const dir = tmp(), outside = tmp();
  const good = writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.3, deadRows: 0.8, sat: 0.3 });
  writeSyntheticTrace(outside, { combo: 'relu-relu-relu', seed: 7, acc: 0.9 });
  writeFileSync(join(outside, 'secret.txt'), 'SECRET');
  writeFileSync(join(dir, 'notes.txt'), 'not a trace');
  writeFileSync(join(dir, 'junk.arrow'), 'not arrow either');
  mkdirSync(join(dir, 'sub.arrow'));
  symlinkSync(join(outside, 'relu-relu-relu_s7.arrow'), join(dir, 'linked.arrow'));
  symlinkSync(outside, join(dir, 'away'));
  const before = statSync(good).mtimeMs;
  const s = await startWatch(dir, { pollMs: 100 });
  try {
    const state = JSON.parse((await get(s.url, '/state.json')).body.toString());
    assert.deepEqual(state.runs.map((r: { run: string; state: string }) => [r.run, r.state]), [['relu-sigmoid-relu_s1', 'complete']]);
    assert.deepEqual(state.ignored.map((x: { file: string }) => x.file).sort(), ['junk.arrow', 'linked.arrow', 'sub.arrow']);
    const page = await get(s.url, '/');
    assert.equal(page.status, 200);
    assert.match(page.body.toString(), /relu-sigmoid-relu_s1/);
    const ok = await get(s.url, '/trace/relu-sigmoid-relu_s1.arrow');
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body, readFileSync(good));
    const refused = [
      '/../../../../etc/passwd', '/%2e%2e/%2e%2e/%2e%2e/etc/passwd', '/trace/..%2F..%2F..%2Fetc%2Fpasswd', '/trace/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      '/trace/..', '/trace/%2e%2e', '/trace//etc/passwd', '/trace/%2Fetc%2Fpasswd', '/etc/passwd', `/trace/${encodeURIComponent(good)}`,
      '/trace/linked.arrow', '/trace/away%2Fsecret.txt', '/trace/away/secret.txt', '/away/secret.txt', '/trace/notes.txt', '/trace/junk.arrow', '/notes.txt',
      '/lib/../package.json', '/lib/%2e%2e/%2e%2e/package.json', '/lib/vega.min.js%00', '/trace/relu-sigmoid-relu_s1.arrow%00.txt', '/trace/%E0%A4%A',
    ];
    for (const p of refused) {
      const r = await get(s.url, p);
      // refused, or normalized by URL parsing to the page itself ('/trace/..' is '/')
      assert.ok(r.status === 404 || r.status === 400 || (r.status === 200 && r.body.toString().startsWith('<!doctype html>')), `${p} → ${r.status}`);
      assert.ok(!/root:|SECRET|ARROW1/.test(r.body.toString('latin1')), `${p} leaked content`);
    }
    // a page on another site cannot reach it through DNS rebinding; nothing but GET
    assert.equal((await get(s.url, '/state.json', { Host: 'attacker.example' })).status, 403);
    assert.equal((await get(s.url, '/state.json', {}, 'POST')).status, 405);
    assert.equal((await get(s.url, '/lib/vega-embed.min.js')).status, 200);
  } finally {
    await s.close();
  }
  // read-only: no lock, no temporary file, no trace rewritten
  assert.deepEqual(readdirSync(dir).sort(), ['away', 'junk.arrow', 'linked.arrow', 'notes.txt', 'relu-sigmoid-relu_s1.arrow', 'sub.arrow']);
  assert.equal(statSync(good).mtimeMs, before);
});

test('a trace caught mid-checkpoint is shown from its last good checkpoint; a dead writer shows as abandoned', async () => {
  const dir = tmp(), later = tmp();
  const spe = 20;
  const path = writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.3, deadRows: 0.8, sat: 0.3, epochs: 3, stepsPerEpoch: spe, killAfter: 1 });
  const next = readFileSync(writeSyntheticTrace(later, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.3, deadRows: 0.8, sat: 0.3, epochs: 3, stepsPerEpoch: spe, killAfter: 2 }));
  const first = readFileSync(path);
  const lock = acquireRunLock(path);
  assert.ok(lock.acquired);
  const folder = new WatchedFolder(dir);
  const a = folder.scan();
  assert.deepEqual([a.runs[0].state, a.runs[0].stepsDone, a.runs[0].stepsTotal], ['running', spe, 3 * spe]);
  // the writer is rewriting its footer: the bytes of the next checkpoint, cut short
  writeFileSync(path, next.subarray(0, first.length + 200));
  const b = folder.scan();
  assert.deepEqual([b.runs[0].state, b.runs[0].stepsDone, b.runs[0].epochsDone], ['running', spe, 1]);
  assert.equal(b.key, a.key, 'nothing changed for the page');
  assert.equal(b.digests[0], a.digests[0]);
  writeFileSync(path, next);
  const c = folder.scan();
  assert.deepEqual([c.runs[0].state, c.runs[0].stepsDone, c.runs[0].epochsDone], ['running', 2 * spe, 2]);
  assert.notEqual(c.key, a.key);
  // its process is gone: the trace says running, the lock is released (or stale)
  if (lock.acquired) lock.lock.release();
  const d = folder.scan();
  assert.equal(d.runs[0].state, 'abandoned');
  assert.equal(d.runs[0].etaSeconds, null);
  assert.equal(readFileSync(path).length, next.length, 'the trace was not touched');
});

test('a scan reads traces only until its time budget is spent; the next scans read the rest', () => {
  const dir = tmp();
  for (let seed = 1; seed <= 5; seed++) writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed, acc: 0.3, deadRows: 0.8, epochs: 2, stepsPerEpoch: 40 });
  const folder = new WatchedFolder(dir);
  // no budget at all: the first trace is read (the budget is checked before each read after it)
  const first = folder.scan(Date.now(), 0);
  assert.ok(first.pending >= 3, `pending ${first.pending}`);
  assert.equal(first.runs.length + first.pending, 5);
  let snap = first, scans = 1;
  while (snap.pending > 0 && scans < 10) { snap = folder.scan(Date.now(), 0); scans++; }
  assert.equal(snap.pending, 0);
  assert.ok(scans >= 3, `${scans} scans`);
  const whole = new WatchedFolder(dir).scan();
  assert.deepEqual(snap.runs.map((r) => r.run), whole.runs.map((r) => r.run));
  assert.equal(snap.key, whole.key, 'once read, the same snapshot as an unbounded scan');
});

test('a run replacing a trace is shown from its .partial file while its lock is live', () => {
  const dir = tmp(), other = tmp();
  const path = writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.3, epochs: 3, stepsPerEpoch: 20 });
  // the new run (--force) writes beside it until it finishes
  writeFileSync(path + '.partial', readFileSync(writeSyntheticTrace(other, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.3, epochs: 3, stepsPerEpoch: 20, killAfter: 1 })));
  const folder = new WatchedFolder(dir);
  assert.deepEqual(folder.scan().runs.map((r) => [r.state, r.stepsDone]), [['complete', 60]], 'no live lock: the finished trace');
  const lock = acquireRunLock(path);
  try {
    assert.deepEqual(folder.scan().runs.map((r) => [r.state, r.stepsDone]), [['running', 20]]);
  } finally {
    if (lock.acquired) lock.lock.release();
  }
  assert.deepEqual(folder.scan().runs.map((r) => [r.state, r.stepsDone]), [['complete', 60]]);
});

test('runs in flight are charted but left out of the verdicts until they finish', async () => {
  const dir = tmp();
  for (const seed of [1, 2, 3]) {
    writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed, acc: 0.2, deadRows: 0.9, sat: 0.3 });
    writeSyntheticTrace(dir, { combo: 'relu-relu-relu', seed, acc: 0.95 });
  }
  const flying = writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed: 4, acc: 0.1, deadRows: 0.9, sat: 0.3, killAfter: 1 });
  const lock = acquireRunLock(flying);
  try {
    const snap = new WatchedFolder(dir).scan();
    assert.deepEqual(snap.runs.map((r) => r.state).sort(), ['complete', 'complete', 'complete', 'complete', 'complete', 'complete', 'running']);
    const all = reportModel(snap.digests, [dir]);
    const pending = reportModel(snap.digests, [dir], () => {}, new Set([flying]));
    // the report of the same files counts the unfinished run as a target run; the live view does not
    assert.equal(all.prevalences[0].targetRuns, 4);
    assert.equal(pending.prevalences[0].targetRuns, 3);
    assert.deepEqual(pending.hypotheses.map((h) => h.verdict), reportModel(snap.digests.filter((d) => d.path !== flying), [dir]).hypotheses.map((h) => h.verdict));
    // yet it is charted: the run picker and the series hold it
    assert.ok(pending.datasets.picks.includes('relu-sigmoid-relu_s4'));
    const html = watchPage(snap, dir, 1);
    assert.match(html, /7 traces \(2 combination\(s\), 1 in flight, 0 truncated\)/);
    assert.match(html, /relu-sigmoid-relu_s4 is in flight \(1 of 3 epochs finished\): charted as it grows, counted in the verdicts once it finishes/);
  } finally {
    if (lock.acquired) lock.lock.release();
  }
});

test('ETA comes from the run\'s own pace: finished epochs, else time since its start', () => {
  const meta = (p: Partial<TraceMeta['progress'] & object>, status = 'running'): TraceMeta => ({
    path: 'x.arrow', run: 'x', config: readStoredConfig({ epochs: 5 }), status: status as TraceMeta['status'], truncated: status !== 'complete', recovered: false, bytes: 0,
    facts: { run: 'x', combo: 'relu-relu-relu', seed: 1, backend: 'wasm', engine: 'fast', versions: {}, startedAt: '2026-01-01T00:00:00.000Z', host: { platform: 'linux', arch: 'x64', cpus: 2 }, dataset: { name: 'mnist', source: '', trainSize: 3200, testSize: 100 }, layers: [], stepsPerEpoch: 100 },
    progress: { status: status as TraceMeta['status'], epochsDone: 0, stepsDone: 0, updatedAt: '2026-01-01T00:00:10.000Z', endedAt: null, epochSeconds: [], probeOverhead: null, writeOverhead: null, ...p },
  });
  const at = Date.parse('2026-01-01T00:00:10.000Z');
  // two epochs of 4 s and 6 s: 0.05 s per step, 300 steps left
  const a = rowOf(meta({ epochsDone: 2, stepsDone: 200, epochSeconds: [4, 6] }), 'x.arrow', true, at);
  assert.deepEqual([a.state, a.stepsDone, a.stepsTotal, a.epochsPlanned], ['running', 200, 500, 5]);
  assert.ok(Math.abs((a.etaSeconds as number) - 15) < 1e-9, String(a.etaSeconds));
  // 3 s after that checkpoint, 3 s less to go
  assert.ok(Math.abs((rowOf(meta({ epochsDone: 2, stepsDone: 200, epochSeconds: [4, 6] }), 'x.arrow', true, at + 3000).etaSeconds as number) - 12) < 1e-9);
  // no epoch finished: 10 s since the start for 50 steps, 450 left
  assert.ok(Math.abs((rowOf(meta({ stepsDone: 50 }), 'x.arrow', true, at).etaSeconds as number) - 90) < 1e-9);
  // nothing to go by yet, or not running: no ETA
  assert.equal(rowOf(meta({}), 'x.arrow', true, at).etaSeconds, null);
  assert.equal(rowOf(meta({ stepsDone: 50 }), 'x.arrow', false, at).state, 'abandoned');
  assert.equal(rowOf(meta({ stepsDone: 50 }), 'x.arrow', false, at).etaSeconds, null);
  assert.equal(rowOf(meta({ epochsDone: 5, stepsDone: 500 }, 'complete'), 'x.arrow', false, at).etaSeconds, null);
});

test('the server survives 20 event streams, one dropped mid-stream, and pushes changes to all of them', async () => {
  const dir = tmp();
  const s = await startWatch(dir, { pollMs: 100 });
  try {
    const streams = await Promise.all(Array.from({ length: 20 }, () => openStream(s.url)));
    assert.equal(s.clients(), 20);
    assert.ok(streams.every((x) => x.state.runs.length === 0));
    streams[0].close();
    // a trace appears: every open stream hears of it, with a newer page version
    const v0 = streams[1].state.version;
    const pushed = Promise.all(streams.slice(1).map((x) => new Promise<number>((ok) => {
      const u = new URL(s.url);
      const req = request({ host: u.hostname, port: u.port, path: '/events' }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (c: string) => { for (const m of c.matchAll(/data: (.*)\n/g)) { const st = JSON.parse(m[1]); if (st.runs.length === 1) { req.destroy(); ok(st.version); } } });
      });
      req.end();
      void x;
    })));
    await sleep(200);
    writeSyntheticTrace(dir, { combo: 'relu-relu-relu', seed: 1, acc: 0.9 });
    const versions = await pushed;
    assert.ok(versions.every((v) => v > v0));
    for (const x of streams) x.close();
    await sleep(300);
    assert.equal((await get(s.url, '/state.json')).status, 200);
    assert.match((await get(s.url, '/')).body.toString(), /relu-relu-relu_s1/);
  } finally {
    await s.close();
  }
});

test('runs a sweep plans are listed as queued until their traces appear', async () => {
  const dir = tmp();
  writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.3 });
  const s = await startWatch(dir, { pollMs: 100 });
  try {
    s.plan([{ run: 'relu-sigmoid-relu_s1', file: 'relu-sigmoid-relu_s1.arrow' }, { run: 'relu-relu-relu_s1', file: 'relu-relu-relu_s1.arrow' }]);
    const states = async () => JSON.parse((await get(s.url, '/state.json')).body.toString()).runs.map((r: { run: string; state: string }) => `${r.run} ${r.state}`);
    assert.deepEqual(await states(), ['relu-sigmoid-relu_s1 complete', 'relu-relu-relu_s1 queued']);
    writeSyntheticTrace(dir, { combo: 'relu-relu-relu', seed: 1, acc: 0.9 });
    const until = Date.now() + 5000;
    while ((await states()).includes('relu-relu-relu_s1 queued') && Date.now() < until) await sleep(50);
    assert.deepEqual(await states(), ['relu-relu-relu_s1 complete', 'relu-sigmoid-relu_s1 complete']);
  } finally {
    await s.close();
  }
});

// ---------- in a real browser ----------

function browserSkip(): string | undefined {
  return process.env.PROBE_CHROMIUM ? undefined : 'PROBE_CHROMIUM unset: npm test sets it after installing Debian chromium (scripts/chromium.sh)';
}

/** A page that fails the test on console errors or any request leaving 127.0.0.1 (those are blocked). */
async function livePage(browser: Browser, problems: string[]): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  await context.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if (u.hostname === '127.0.0.1') return route.continue();
    problems.push(`outside request: ${u.href}`);
    return route.abort();
  });
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  return page;
}

/** Starts the CLI and waits for the live view's URL on stderr. */
async function startCli(args: readonly string[], env: Record<string, string> = {}): Promise<{ child: ChildProcess; url: string; exit: Promise<number | null>; err: () => string }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...env } });
  let err = '', out = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => { err += c; });
  child.stdout!.setEncoding('utf8').on('data', (c: string) => { out += c; });
  const exit = new Promise<number | null>((ok) => child.on('exit', (code) => ok(code)));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(args[0] === 'watch' ? out : err);
    if (m) return { child, url: m[1], exit, err: () => err };
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no URL from probe ${args.join(' ')}: ${err}`);
    await sleep(100);
  }
}

const pageState = (page: Page) => page.evaluate(() => {
  const rows = Array.from(document.querySelectorAll<HTMLElement>('#runs tr[data-run]')).map((tr) => ({ run: tr.dataset.run!, state: tr.dataset.state!, steps: Number(tr.dataset.steps) }));
  // how far the training chart's x axis (steps) reaches: vega names it in the axis' aria-label
  const axis = document.querySelector('#chart-run-training [aria-label^="X-axis titled \'step\'"]')?.getAttribute('aria-label') ?? '';
  const reach = /values from \S+ to (\d+)/.exec(axis);
  return { rows, points: reach ? Number(reach[1]) : 0, version: Number(document.body.dataset.version ?? 0), error: document.body.dataset.error ?? null };
});

const TINY = ['--train-limit', '3200', '--test-limit', '500', '--backend', 'wasm', '--batch', '32'];

test('probe run --watch: the page shows the step count and a chart grow across checkpoints, then the run complete', { skip: browserSkip() }, async () => {
  const dir = tmp();
  // the URL comes before training starts; 4 epochs of 100 steps, a checkpoint at the end of each.
  // The run waits after epoch e until `hold` says e (PROBE_HOLD_EPOCHS): a fast machine would
  // otherwise finish before the browser has the page, and the page would only ever see the end.
  const hold = join(tmp(), 'hold');
  writeFileSync(hold, '0');
  const cli = await startCli(['run', 'relu-sigmoid-relu', '--epochs', '4', ...TINY, '--out', dir, '--watch', '--quiet'], { PROBE_HOLD_EPOCHS: hold });
  const browser = await chromium.launch({ executablePath: process.env.PROBE_CHROMIUM, args: ARGS });
  const problems: string[] = [];
  try {
    const page = await livePage(browser, problems);
    await page.goto(cli.url);
    const seen: Awaited<ReturnType<typeof pageState>>[] = [];
    const deadline = Date.now() + 90_000;
    let released = 0, drawn = 0;
    for (;;) {
      const s = await pageState(page);
      assert.equal(s.error, null);
      seen.push(s);
      const row = s.rows[0];
      // complete, and the chart drawn from the final trace
      if (row?.state === 'complete' && seen.filter((x) => x.rows[0]?.state === 'complete' && x.points > 0).length > 3) break;
      // the page shows the held epoch's checkpoint, its chart drawn to it: let the next epoch run
      if (row && row.steps === 100 * (released + 1) && s.points > drawn) {
        drawn = s.points;
        writeFileSync(hold, String(++released));
      }
      assert.ok(Date.now() < deadline, `run did not complete on the page: ${JSON.stringify(seen.at(-1))}\n${cli.err()}`);
      await sleep(150);
    }
    assert.equal(released, 4, 'each epoch was held until the page showed its checkpoint');
    const steps = [...new Set(seen.map((x) => x.rows[0]?.steps).filter((v) => v !== undefined))];
    assert.ok(steps.filter((v) => v > 0 && v < 400).length >= 2, `steps seen: ${steps.join(', ')}`);
    assert.equal(steps.at(-1), 400);
    assert.deepEqual(steps, [...steps].sort((a, b) => a - b), 'the step count only grows');
    const points = [...new Set(seen.map((x) => x.points).filter((p) => p > 0))];
    assert.ok(points.length >= 3 && points.every((p, i) => i === 0 || p > points[i - 1]), `the training chart grew across checkpoints: its x axis reached ${points.join(', ')}`);
    assert.equal(await page.textContent('#runs tr[data-run] .steps'), '400 / 400');
    assert.match((await page.textContent('#runs tr[data-run] .state')) ?? '', /complete/);

    // smoothing and log scale redraw the per-step charts
    const before = await page.getAttribute('#chart-run-training .mark-line path', 'd');
    await page.locator('#smooth').fill('0.9');
    await page.locator('#smooth').dispatchEvent('change');
    await page.waitForFunction((b) => document.querySelector('#chart-run-training .mark-line path')?.getAttribute('d') !== b, before);
    await page.locator('#logscale').check();
    await page.waitForFunction(() => document.querySelector('#chart-run-dead-relu .role-axis-label text') !== null);
    // a chart's rows as CSV, and the chart as SVG from vega-embed's menu: both from the page itself
    const [csv] = await Promise.all([page.waitForEvent('download'), page.locator('#chart-run-training').locator('xpath=..').locator('a.csv').click()]);
    const text = readFileSync((await csv.path())!, 'utf8');
    assert.match(text.split('\n')[0], /\bstep\b.*\bvalue\b/);
    assert.ok(text.split('\n').length > 10);
    await page.locator('#chart-run-training details summary').click();
    const [svg] = await Promise.all([page.waitForEvent('download'), page.locator('#chart-run-training .vega-actions a', { hasText: 'SVG' }).click()]);
    assert.match(readFileSync((await svg.path())!, 'utf8'), /^<svg/);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    cli.child.kill('SIGINT');
    assert.equal(await cli.exit, 0, cli.err());
  }
});

test('a sweep under watch: each run listed with its state; a killed run shows abandoned (truncated), then resumed', { skip: browserSkip() }, async () => {
  const dir = tmp();
  const flags = ['--epochs', '2', ...TINY];
  const watch = await startCli(['watch', dir]);
  const browser = await chromium.launch({ executablePath: process.env.PROBE_CHROMIUM, args: ARGS });
  const problems: string[] = [];
  try {
    const page = await livePage(browser, problems);
    await page.goto(watch.url);
    // one run killed mid-way (kill -9: no chance to close its trace), held after its first epoch
    // (PROBE_HOLD_EPOCHS) so that however fast the machine, it has not finished when it is killed
    const hold = join(tmp(), 'hold');
    writeFileSync(hold, '0');
    const doomed = spawn(process.execPath, [BIN, 'run', 'relu-sigmoid-relu', '--seed', '1', ...flags, '--out', dir], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, PROBE_HOLD_EPOCHS: hold } });
    let doomedErr = '';
    doomed.stderr!.setEncoding('utf8').on('data', (c: string) => { doomedErr += c; });
    const deadline = Date.now() + 30_000;
    while (!/epoch 1\/2 +train loss/.test(doomedErr)) { assert.ok(Date.now() < deadline && doomed.exitCode === null, `the run never finished its first epoch: ${doomedErr}`); await sleep(30); }
    doomed.kill('SIGKILL');
    await page.waitForSelector('#runs tr[data-run]', { timeout: 20_000 });
    await page.waitForFunction(() => document.querySelector<HTMLElement>('#runs tr[data-run]')?.dataset.state === 'abandoned', null, { timeout: 20_000 });
    assert.match((await page.textContent('#runs tr[data-run] .state')) ?? '', /abandoned \(truncated\)/);
    await page.waitForFunction(() => /truncated \(abandoned\)/.test(document.querySelector('ul.warn')?.textContent ?? ''), null, { timeout: 20_000 });
    // a second tab closed mid-stream does not bother the server
    const other = await page.context().newPage();
    await other.goto(watch.url);
    await other.close();
    // the sweep redoes it (and runs another), with its own view beside it
    const sweep = await startCli(['sweep', '--combos', 'relu-sigmoid-relu,relu-relu-relu', '--seeds', '1', '--workers', '2', ...flags, '--out', dir, '--watch', '--quiet']);
    try {
      await page.waitForFunction(() => {
        const rows = Array.from(document.querySelectorAll<HTMLElement>('#runs tr[data-run]'));
        return rows.length === 2 && rows.every((r) => r.dataset.state === 'complete');
      }, null, { timeout: 120_000 });
      const states = await page.$$eval('#runs tr[data-run]', (trs) => trs.map((tr) => `${(tr as HTMLElement).dataset.run} ${(tr as HTMLElement).dataset.state} ${(tr as HTMLElement).dataset.steps}`));
      assert.deepEqual(states, ['relu-relu-relu_s1 complete 200', 'relu-sigmoid-relu_s1 complete 200']);
      // the sweep's own view shows the same folder (its own once-a-second check may lag a moment)
      const ownStates = async () => JSON.parse((await get(sweep.url, '/state.json')).body.toString()).runs.map((r: { state: string }) => r.state).join(',');
      const until = Date.now() + 10_000;
      while ((await ownStates()) !== 'complete,complete' && Date.now() < until) await sleep(200);
      assert.equal(await ownStates(), 'complete,complete');
      await page.waitForFunction(() => !/truncated/.test(document.querySelector('ul.warn')?.textContent ?? '') && Number(document.body.dataset.rendered) > 0, null, { timeout: 20_000 });
    } finally {
      sweep.child.kill('SIGINT');
      assert.equal(await sweep.exit, 0, sweep.err());
    }
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    watch.child.kill('SIGINT');
    assert.equal(await watch.exit, 0);
  }
});

test("probe watch over a sweep's folder: what is wrong is on the first screen (1280×900), the runs panel scrolls within its own box", { skip: browserSkip() }, async () => {
  // 24 runs: listed in full, the sticky panel of runs took ~700 px and pushed the diagnosis below
  // the fold (with 64 it would cover the whole screen while sticking to its top)
  const dir = tmp();
  for (const seed of [1, 2, 3]) {
    for (const combo of ['sigmoid-sigmoid-relu', 'relu-relu-relu', 'relu-sigmoid-tanh', 'tanh-tanh-tanh', 'relu-sigmoid-relu', 'selu-relu-relu', 'tanh-sigmoid-relu', 'relu-tanh-relu']) {
      const fails = combo.endsWith('sigmoid-relu');
      writeSyntheticTrace(dir, { combo, seed, acc: fails ? 0.098 : 0.97, deadRows: fails ? 0.99 : 0.01 });
    }
  }
  const cli = await startCli(['watch', dir]);
  const browser = await chromium.launch({ executablePath: process.env.PROBE_CHROMIUM, args: ARGS });
  const problems: string[] = [];
  try {
    const page = await livePage(browser, problems);
    await page.goto(cli.url);
    await page.waitForFunction(() => document.querySelectorAll('#runs tr[data-run]').length === 24 && document.getElementById('what-is-wrong'), null, { timeout: 60_000 });
    const seen = await page.evaluate(() => {
      const s = document.getElementById('what-is-wrong')!;
      const parts = Array.from(s.querySelectorAll(':scope > .verdict, :scope > ul.findings li, :scope > table.diagnoses tbody tr')).slice(0, 3);
      return { found: parts.length, bottom: Math.max(...parts.map((e) => e.getBoundingClientRect().bottom)), panel: document.getElementById('watch')!.getBoundingClientRect().height, text: s.innerText };
    });
    assert.ok(seen.found > 0, 'the section has a verdict and findings');
    assert.ok(seen.panel < 450, `the runs panel is ${seen.panel} px high`);
    assert.ok(seen.bottom <= 900, `what is wrong ends at ${seen.bottom} px, below the first screen`);
    assert.match(seen.text, /9 of 24 runs failing/);
    // every run is still there, in the panel's own scroll
    assert.equal(await page.$$eval('#runs tr[data-run]', (rows) => rows.length), 24);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    cli.child.kill();
    await cli.exit;
  }
});
