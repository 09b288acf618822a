import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSyntheticTrace } from './synthetic.js';
import { runCli, tmp } from './helpers.js';

process.env.FORCE_COLOR = '0';

test('compare and report use every named file; a bad one among them fails the command', async () => {
  const dir = tmp();
  const a = writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.3, deadRows: 0.5 });
  const b = writeSyntheticTrace(dir, { combo: 'relu-tanh-relu', seed: 1, acc: 0.9 });
  const c = await runCli(['compare', a, b, '--json']);
  assert.equal(c.status, 0, c.stderr);
  assert.deepEqual(JSON.parse(c.stdout).groups.map((g: { combo: string }) => g.combo), ['relu-sigmoid-relu', 'relu-tanh-relu']);
  const r = await runCli(['report', a, b, '--json', '--no-images', '--out', join(tmp(), 'report')]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).runs, 2);
  const junk = join(dir, 'junk.arrow');
  writeFileSync(junk, 'not arrow');
  for (const cmd of [['compare', junk, a], ['report', junk, a, '--no-images', '--out', join(tmp(), 'report')]]) {
    const bad = await runCli([...cmd, '--json']);
    assert.equal(bad.status, 2, `${cmd[0]}: ${bad.stdout}`);
    assert.match(bad.stderr, /junk.arrow is not a probe trace/);
    assert.equal(bad.stdout, '');
  }
});

test('an option given twice takes its last value (an override), while every file argument is kept', async () => {
  const dir = tmp();
  const a = writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.3 });
  const b = writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed: 2, acc: 0.4 });
  const r = await runCli(['compare', a, b, '--tol', '0.1', '--tol', '0.2', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.tol, 0.2);
  assert.deepEqual(j.groups[0].seeds, [1, 2]);
});
