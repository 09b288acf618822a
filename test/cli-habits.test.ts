import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { WatchedFolder } from '../src/watch/folder.js';
import { watchPage } from '../src/watch/page.js';
import { acquireRunLock } from '../src/trace/run-lock.js';
import { defaultReportDir } from '../src/report/index.js';
import { writeSyntheticTrace } from './synthetic.js';
import { BIN, ROOT, runCli, tmp } from './helpers.js';

test('a misspelled flag is refused with the flag most likely meant; so is a misspelled command', async () => {
  const r = await runCli(['run', 'relu-relu-relu', '--epocs', '3']);
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim(), 'error unknown option --epocs (did you mean --epochs?): probe run --help lists its options');
  const two = await runCli(['export', 'x.arrow', '--parqet', 'a.parquet', '--frce']);
  assert.match(two.stderr, /unknown options --parqet \(did you mean --parquet\?\), --frce \(did you mean --force\?\)/);
  const cmd = await runCli(['reprot', 'runs/']);
  assert.equal(cmd.status, 2);
  assert.match(cmd.stderr, /unknown command 'reprot' \(did you mean 'report'\?\)/);
});

test('probe completion prints a bash script that completes commands and the chosen command\'s flags', () => {
  const bin = tmp();
  symlinkSync(BIN, join(bin, 'probe'));
  const complete = (...words: string[]) => {
    const sh = `source <(probe completion); COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _probe_yargs_completions; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const r = spawnSync('bash', ['-c', sh], { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, cwd: ROOT });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim().split('\n').filter(Boolean).sort();
  };
  assert.deepEqual(complete('probe', 'rep'), ['report']);
  assert.deepEqual(complete('probe', 'co'), ['compare', 'completion']);
  assert.deepEqual(complete('probe', 'run', '--ep'), ['--epochs']);
  assert.deepEqual(complete('probe', 'export', 'runs/', '--par'), ['--parquet']);
});

test('probe report of several folders writes beside them, not into the current folder', async () => {
  const root = tmp(), a = join(root, 'sweepA'), b = join(root, 'sweepB');
  mkdirSync(a); mkdirSync(b);
  writeSyntheticTrace(a, { combo: 'relu-relu-relu', seed: 1, acc: 0.9 });
  writeSyntheticTrace(b, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.2, deadRows: 0.9, sat: 0.5 });
  const r = await runCli(['report', a, b, '--no-images', '--json']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).out, join(root, 'report'));
  assert.ok(existsSync(join(root, 'report', 'index.html')));
  assert.equal(existsSync(join(ROOT, 'report')), false, 'nothing in the current folder');
  // one folder, or files of one folder: report/ inside it
  assert.equal(defaultReportDir([a]), join(a, 'report'));
  assert.equal(defaultReportDir([join(a, 'relu-relu-relu_s1.arrow')]), join(a, 'report'));
  // inputs with nothing in common but the root: the first input's folder
  assert.equal(defaultReportDir([a, '/proc']), join(a, 'report'));
});

test('probe watch opens on the run that is training, not on a finished one', () => {
  const dir = tmp();
  // a finished target-group run (the page's usual first choice) and a control run in flight
  writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.2, deadRows: 0.9, sat: 0.3 });
  writeSyntheticTrace(dir, { combo: 'tanh-tanh-tanh', seed: 1, acc: 0.9 });
  const flying = writeSyntheticTrace(dir, { combo: 'relu-relu-relu', seed: 2, acc: 0.5, killAfter: 1 });
  const firstOption = (html: string) => /<select id="pick"[^>]*><option>([^<]+)<\/option>/.exec(html)?.[1];
  const lock = acquireRunLock(flying);
  try {
    assert.equal(firstOption(watchPage(new WatchedFolder(dir).scan(), dir, 1)), 'relu-relu-relu_s2');
  } finally {
    if (lock.acquired) lock.lock.release();
  }
  // once nothing trains, the page opens as the report does
  assert.equal(firstOption(watchPage(new WatchedFolder(dir).scan(), dir, 2)), 'relu-sigmoid-relu_s1');
});

test('the package is publishable under its own name: not private, no install-time script, the CLI and library built into it', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; private?: boolean; scripts: Record<string, string>; bin: Record<string, string> };
  assert.equal(pkg.name, 'probe-nn', "not 'probe': that name belongs to another package");
  assert.equal(pkg.private, undefined);
  // npm 11 asks users to allow any of these (prepare too, for a tarball or git install) before it runs them
  for (const s of ['preinstall', 'install', 'postinstall', 'prepare']) assert.equal(pkg.scripts[s], undefined, `no ${s} script`);
  assert.equal(pkg.scripts.prepack, 'npm run build', 'the tarball is built when packed');
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const files = new Set((JSON.parse(r.stdout) as { files: { path: string }[] }[])[0].files.map((f) => f.path));
  for (const f of ['bin/probe.js', 'dist/src/cli/main.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'README.md']) assert.ok(files.has(f), f);
  assert.ok(![...files].some((f) => f.startsWith('dist/test/') || f.startsWith('src/')), 'no tests or sources in the package');
});
