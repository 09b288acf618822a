import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { readTrace } from '../src/trace/reader.js';
import { allModes, BIN, FIXTURES, ROOT, tmp } from './helpers.js';

// The engine and probe reference tests run on tfjs-node through allModes(); this runs the real
// binary on it, end to end.
const node = (await allModes()).find((m) => m.name.startsWith('node'))!;
const probe = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' } });

test('probe run --backend node trains on tfjs-node, records it, and the same seed gives the same probe values', { skip: node.skip }, () => {
  const a = tmp(), b = tmp();
  for (const dir of [a, b]) {
    const r = probe(['run', 'relu-sigmoid-relu', '--data-dir', FIXTURES, '--backend', 'node', '--quiet', '--json', '--epochs', '2', '--seed', '3', '--out', dir]);
    assert.equal(r.status, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.status, 'complete');
    assert.equal(s.backend, 'node');
    assert.equal(s.steps, 20);
  }
  const [ta, tb] = [a, b].map((d) => readTrace(join(d, 'relu-sigmoid-relu_s3.arrow')));
  assert.equal(ta.facts.backend, 'node');
  // everything but wall-clock figures
  const probeValues = ({ columns: c }: typeof ta) => c.value.filter((_, i) => !['eval', 'timing'].includes(c.probes[c.probe[i]]) || c.metrics[c.metric[i]].startsWith('test') || c.metrics[c.metric[i]] === 'train_loss');
  assert.ok(probeValues(ta).length > 500);
  assert.ok(probeValues(ta).every(Number.isFinite));
  assert.deepEqual(Buffer.from(probeValues(ta).buffer), Buffer.from(probeValues(tb).buffer));
});
