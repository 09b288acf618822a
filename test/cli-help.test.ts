import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, probeCli } from './helpers.js';

process.env.FORCE_COLOR = '0';

/** `probe … --help` as printed into a pipe (100 columns), without colour. */
const help = (args: string[]) => {
  const r = probeCli([...args, '--help']);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
};

const NUMERIC: Record<string, readonly string[]> = {
  run: ['epochs', 'seed', 'lr', 'momentum', 'batch', 'train-limit', 'test-limit', 'every', 'distribution-every', 'sigmoid-low', 'sigmoid-high', 'tanh-sat', 'selu-sat'],
  compare: ['layer', 'tol'],
  sweep: ['workers', 'shards', 'epochs', 'lr'],
};

test('help: numeric flags say [number]; examples are whole lines, never flags wrapped into a left column', () => {
  for (const cmd of ['', 'run', 'inspect', 'report', 'sweep', 'compare', 'export']) {
    const text = help(cmd ? [cmd] : []);
    const lines = text.split('\n');
    for (const flag of NUMERIC[cmd] ?? []) {
      // the option's entry runs from its line to the next option's
      const i = lines.findIndex((l) => l.startsWith(`  --${flag} `));
      assert.ok(i >= 0, `${cmd}: --${flag} listed`);
      let entry = lines[i];
      for (let j = i + 1; j < lines.length && /^ {4,}/.test(lines[j]); j++) entry += lines[j];
      assert.match(entry, /\[number\]/, `${cmd} --${flag}: ${entry}`);
      assert.doesNotMatch(entry, /\[string\]/, `${cmd} --${flag}`);
    }
    const ex = lines.slice(lines.indexOf('Examples:') + 1);
    assert.ok(ex.length > 1, `${cmd || 'probe'} has examples`);
    for (const l of ex) {
      if (!l.trim() || !l.startsWith('  ')) break; // the epilogue
      assert.match(l, /^ {2}(probe |# )/, `${cmd || 'probe'}: example line '${l}'`);
      assert.ok(l.length <= 100, `${cmd}: '${l}' is ${l.length} columns`);
    }
  }
});

test('numeric flags reach the checks as typed: a bad value is named as given, a missing one is a usage error', async () => {
  for (const [args, re] of [
    [['run', 'relu-relu-relu', '--epochs', 'abc'], /^error --epochs must be a whole number ≥ 1, got 'abc'/],
    [['run', 'relu-relu-relu', '--lr', '1e-x'], /^error --lr .*got '1e-x'/],
    [['run', 'relu-relu-relu', '--epochs', '2.50'], /got '2\.50'/],
    [['compare', 'x.arrow', '--tol', 'nope'], /^error --tol must be a number ≥ 0, got 'nope'/],
    [['run', 'relu-relu-relu', '--epochs'], /^error Not enough arguments following: epochs \(see probe --help\)/],
  ] as const) {
    const r = await runCli(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
});
