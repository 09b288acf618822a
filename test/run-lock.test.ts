import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { acquireRunLock, lockHolder, lockPathOf, STALE_MS, type LockInfo } from '../src/trace/run-lock.js';
import { readTrace, readTraceMeta } from '../src/trace/reader.js';
import { planSweep } from '../src/sweep/sweep.js';
import { BIN, FIXTURES, runCli, tmp } from './helpers.js';
import { INDEX_FILE } from '../src/read/folder.js';

process.env.FORCE_COLOR = '0';

const lockOf = (trace: string, info: Partial<LockInfo>, ageMs = 0) => {
  const path = lockPathOf(trace);
  writeFileSync(path, JSON.stringify({ pid: 1, host: 'other-node', token: 'theirs', startedAt: 'then', beats: 0, ...info }));
  const t = (Date.now() - ageMs) / 1000;
  utimesSync(path, t, t);
};

test('a run lock is exclusive while held, free once released', () => {
  const trace = join(tmp(), 'x.arrow');
  const a = acquireRunLock(trace);
  assert.ok(a.acquired);
  const b = acquireRunLock(trace);
  assert.equal(b.acquired, false);
  assert.deepEqual(!b.acquired && [b.holder?.pid, b.holder?.host], [process.pid, hostname()]);
  a.lock.release();
  assert.equal(existsSync(lockPathOf(trace)), false);
  const c = acquireRunLock(trace);
  assert.ok(c.acquired);
  c.lock.release();
});

test('stale locks: a dead pid on this host at once, any host after its heartbeat stops; fresh ones hold', () => {
  const trace = join(tmp(), 'x.arrow');
  const dead = spawnSync(process.execPath, ['-e', '']).pid!;
  lockOf(trace, { host: hostname(), pid: dead });
  const a = acquireRunLock(trace);
  assert.ok(a.acquired, 'the lock of a process that no longer runs is taken over');
  a.lock.release();
  // another machine of a shared file system: its pid means nothing here, its heartbeat does
  lockOf(trace, { host: 'other-node', pid: dead }, 5_000);
  assert.equal(acquireRunLock(trace).acquired, false, 'a lock rewritten 5 s ago is held');
  assert.equal(lockHolder(trace)?.host, 'other-node');
  lockOf(trace, { host: 'other-node' }, STALE_MS + 60_000);
  assert.equal(lockHolder(trace), null);
  const b = acquireRunLock(trace);
  assert.ok(b.acquired, 'a lock not rewritten for longer than STALE_MS is taken over');
  assert.equal(readdirSync(join(trace, '..')).filter((f) => f.includes('.stale')).length, 0, 'the stale file is gone');
  b.lock.release();
});

test('a run whose lock another process holds: run refuses (exit 2), a sweep plans it as busy', async () => {
  const out = tmp();
  const trace = join(out, 'relu-relu-relu_s1.arrow');
  lockOf(trace, { host: 'other-node', pid: 4242 });
  const r = await runCli(['run', 'relu-relu-relu', '--data-dir', FIXTURES, '--backend', 'wasm', '--epochs', '1', '--quiet', '--out', out]);
  assert.equal(r.status, 2);
  assert.match(r.stderr.trim(), /^error .*relu-relu-relu_s1.arrow is being computed by pid 4242 on other-node \(since then\): wait for it/);
  assert.equal(existsSync(trace), false);
  const plan = planSweep({ combos: ['relu-relu-relu'], seeds: [1], run: { epochs: '1' }, out });
  assert.deepEqual([plan[0].action, plan[0].why], ['busy', 'being computed by pid 4242 on other-node']);
});

test('two sweeps started together on one folder compute each run once, and both exit 0', async () => {
  const out = tmp();
  const sweep = () => new Promise<{ code: number | null; summary: { completed: number; elsewhere: number; skipped: number; failed: unknown[] } }>((res) => {
    const c = spawn(process.execPath, [BIN, 'sweep', '--combos', 'relu-relu-relu,relu-tanh-relu,relu-selu-relu', '--seeds', '1', '--epochs', '2', '--workers', '1', '--json', '--quiet',
      '--data-dir', FIXTURES, '--backend', 'wasm', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.on('exit', (code) => res({ code, summary: JSON.parse(stdout || '{}') }));
  });
  const [a, b] = await Promise.all([sweep(), sweep()]);
  assert.deepEqual([a.code, b.code], [0, 0]);
  assert.deepEqual([a.summary.failed, b.summary.failed], [[], []]);
  assert.equal(a.summary.completed + b.summary.completed, 3, `each of the 3 runs computed once: ${JSON.stringify([a.summary, b.summary])}`);
  for (const s of [a.summary, b.summary]) assert.equal(s.completed + s.elsewhere + s.skipped, 3);
  const files = readdirSync(out).sort();
  assert.deepEqual(files.filter((f) => !f.endsWith('.arrow') && f !== INDEX_FILE), [], 'no lock or partial file left');
  for (const f of files.filter((x) => x.endsWith('.arrow'))) assert.equal(readTrace(join(out, f)).status, 'complete');
});

test('a lock whose holder is a zombie (dead, not yet reaped) is stale', async () => {
  // a parent that never reaps its child, which exits at once
  const sh = spawn('/usr/bin/python3', ['-c', 'import os, time\npid = os.fork()\nif pid == 0: os._exit(0)\nprint(pid, flush=True)\ntime.sleep(5)'], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const pid = Number(await new Promise<string>((res) => sh.stdout.setEncoding('utf8').once('data', res)));
    const zombie = () => { try { return /\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); } catch { return false; } };
    for (let i = 0; i < 100 && !zombie(); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(zombie(), `pid ${pid} is a zombie`);
    const trace = join(tmp(), 'x.arrow');
    lockOf(trace, { host: hostname(), pid });
    assert.equal(lockHolder(trace), null, 'a zombie holds nothing');
  } finally {
    sh.kill();
  }
});

/** A sweep of the CLI, as a process; its JSON summary. */
const sweepProcess = (args: readonly string[]) => new Promise<{ code: number | null; stderr: string; summary: { completed: number; elsewhere: number; notRun: number; failed: unknown[] } }>((res) => {
  const c = spawn(process.execPath, [BIN, 'sweep', ...args, '--json', '--data-dir', FIXTURES, '--backend', 'wasm'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  c.stdout.on('data', (d) => (stdout += d));
  c.stderr.on('data', (d) => (stderr += d));
  c.on('exit', (code) => res({ code, stderr, summary: JSON.parse(stdout || '{}') }));
});

test('a sweep waits for a run another process holds, and retakes it when that process dies unfinished: exit 0 only with the grid done', async () => {
  const out = tmp();
  // the holder: a live process on this host that dies after a while without finishing the run
  const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 1500)'], { stdio: 'ignore' });
  lockOf(join(out, 'relu-relu-relu_s1.arrow'), { host: hostname(), pid: holder.pid });
  const r = await sweepProcess(['--combos', 'relu-relu-relu,relu-tanh-relu', '--seeds', '1', '--epochs', '1', '--workers', '1', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.summary.completed, 2, `the held run is retaken once its holder died: ${JSON.stringify(r.summary)}`);
  assert.equal(r.summary.notRun, 0);
  const files = readdirSync(out).sort();
  assert.deepEqual(files.filter((f) => !f.endsWith('.arrow') && f !== INDEX_FILE), [], 'no lock left');
  for (const f of files.filter((x) => x.endsWith('.arrow'))) assert.equal(readTrace(join(out, f)).status, 'complete');
});

test('a sweep killed with kill -9: its worker notices, closes the run in flight as interrupted and frees its lock', async () => {
  const out = tmp();
  const trace = join(out, 'relu-relu-relu_s1.arrow');
  const c = spawn(process.execPath, [BIN, 'sweep', '--combos', 'relu-relu-relu', '--seeds', '1', '--epochs', '1000', '--workers', '1', '--quiet', '--data-dir', FIXTURES, '--backend', 'wasm', '--out', out], { stdio: 'ignore' });
  const exited = new Promise((r) => c.on('exit', r));
  const until = async (what: string, ok: () => boolean, ms: number) => {
    for (const end = Date.now() + ms; !ok(); await new Promise((r) => setTimeout(r, 100))) assert.ok(Date.now() < end, what);
  };
  let worker = 0;
  try {
    // the run is under way: its first checkpoint is written and its worker has sent progress
    await until('the run starts', () => existsSync(trace) && existsSync(lockPathOf(trace)), 120_000);
    await new Promise((r) => setTimeout(r, 1500));
    worker = lockHolder(trace)!.pid;
    assert.notEqual(worker, c.pid);
    c.kill('SIGKILL');
    await exited;
    await until('the worker frees the lock', () => !existsSync(lockPathOf(trace)), 30_000);
    assert.equal(readTraceMeta(trace).status, 'interrupted', 'the trace is closed as interrupted, not left running');
  } finally {
    c.kill('SIGKILL');
    // never leave an orphan training
    if (worker) try { process.kill(worker, 'SIGKILL'); } catch { /* gone */ }
  }
});
