import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readTrace } from '../src/trace/reader.js';
import { FIXTURES, runCli, tmp } from './helpers.js';

process.env.FORCE_COLOR = '0';
const quick = ['--data-dir', FIXTURES, '--backend', 'wasm', '--quiet', '--test-limit', '64'];

test('the same run again is refused (trace untouched) unless --force; other settings get a name of their own', async () => {
  const out = tmp();
  const run = (...args: string[]) => runCli(['run', 'relu-relu-relu', ...quick, '--out', out, ...args]);
  assert.equal((await run('--epochs', '1')).status, 0);
  const path = join(out, 'relu-relu-relu_s1.arrow');
  const before = readFileSync(path);
  const again = await run('--epochs', '1');
  assert.equal(again.status, 2);
  assert.match(again.stderr, /^error trace .*relu-relu-relu_s1.arrow already exists: pass --force/);
  assert.deepEqual(readFileSync(path), before);
  // other settings, same combination and seed: named by the settings' hash, the first trace stays
  const other = await run('--epochs', '2', '--json');
  assert.equal(other.status, 0, other.stderr);
  const j = JSON.parse(other.stdout.trim().split('\n').at(-1)!);
  assert.equal(j.path, join(out, `relu-relu-relu_s1_${j.configHash.slice(0, 8)}.arrow`));
  assert.equal(readTrace(j.path).run, `relu-relu-relu_s1_${j.configHash.slice(0, 8)}`);
  assert.deepEqual(readFileSync(path), before);
  // the same other settings again: the same name, so refused like any repeat
  const repeat = await run('--epochs', '2');
  assert.equal(repeat.status, 2);
  assert.match(repeat.stderr, /relu-relu-relu_s1_[0-9a-f]{8}\.arrow already exists: pass --force/);
  // --force replaces the plain name's trace instead
  assert.equal((await run('--epochs', '2', '--force')).status, 0);
  assert.equal(readTrace(path).progress?.epochsDone, 2);
  assert.deepEqual(readdirSync(out).filter((f) => f.endsWith('.arrow')).length, 2);
});
