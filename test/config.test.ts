import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configHash, DEFAULT_EVERY, resolveConfig, runName } from '../src/config.js';
import { PROBE_IDS } from '../src/probes/ids.js';
import { initParams } from '../src/train/model.js';
import { FIXTURES, runCli, tmp } from './helpers.js';

test("defaults are the study's settings", () => {
  const c = resolveConfig({ combo: 'relu-sigmoid-relu' });
  assert.deepEqual([c.hidden, c.lr, c.momentum, c.batch, c.epochs, c.seed, c.every], [[500, 256], 0.01, 0.5, 32, 10, 1, DEFAULT_EVERY]);
  assert.equal(DEFAULT_EVERY, 10, 'per-step probes every 10th step unless --every says otherwise');
  assert.deepEqual(c.activations, ['relu', 'sigmoid', 'relu']);
  assert.equal(c.probes, 'all');
  assert.equal(runName(c), 'relu-sigmoid-relu_s1');
});

test('each bad value gets a message naming it and what is accepted: as a flag on the command line, as an option in the library', () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ combo: 'relu-sigmoid' }, /names 2 activations but the model has 3 layers/],
    [{ combo: 'relu-sigmoid-gelu' }, /unknown activation 'gelu' .*use relu, tanh, sigmoid or selu/],
    [{ combo: 'relu-relu-relu', epochs: '2.5' }, /--epochs must be a whole number ≥ 1, got '2.5'/],
    [{ combo: 'relu-relu-relu', epochs: '0' }, /--epochs must be a whole number ≥ 1, got '0'/],
    [{ combo: 'relu-relu-relu', batch: '0' }, /--batch must be a whole number ≥ 1, got '0'/],
    [{ combo: 'relu-relu-relu', lr: '0' }, /--lr must be a number > 0, got '0'/],
    [{ combo: 'relu-relu-relu', lr: 'fast' }, /--lr must be a finite number, got 'fast'/],
    [{ combo: 'relu-relu-relu', momentum: '1' }, /--momentum must be a number in \[0, 1\), got '1'/],
    [{ combo: 'relu-relu-relu', hidden: '500,x' }, /--hidden must be comma-separated layer widths/],
    [{ combo: 'relu-relu-relu', backend: 'gpu' }, /--backend must be one of auto, node, wasm, cpu, got 'gpu'/],
    [{ combo: 'relu-relu-relu', probes: 'dead-relu,magic' }, /unknown probe 'magic': choose from loss, saturation, dead-relu, gradients/],
    [{ combo: 'relu-relu-relu', every: '-3' }, /--every must be a whole number ≥ 1, got '-3'/],
    [{ combo: 'relu-relu-relu', sigmoidLow: '0.9', sigmoidHigh: '0.8' }, /--sigmoid-high must be greater than --sigmoid-low/],
    [{ combo: 'relu-relu-relu', tanhSat: '1.5' }, /--tanh-sat must be a number in \(0, 1\), got '1.5'/],
    [{ combo: 'relu-relu-relu', trainLimit: '0' }, /--train-limit must be a whole number ≥ 1/],
  ];
  for (const [input, re] of bad) {
    assert.throws(() => resolveConfig(input as never), (e: Error & { exitCode?: number; flagMessage?: string }) => {
      const library = e.message, flags = e.flagMessage ?? '';
      // the library names options as a caller writes them (options.trainLimit), never as flags
      const asOption = new RegExp(re.source.replace(/--([a-z-]+)/g, (_, f: string) => `options\\.${f.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase())}`));
      return re.test(flags) && asOption.test(library) && !/--[a-z]/.test(library) && e.exitCode === 2 && !library.includes('\n');
    }, String(re));
  }
});

test('one number syntax for every numeric flag: a whole number may be written 1e9 as --lr may be 1e-2; hex, blanks and infinities are refused', async () => {
  const c = resolveConfig({ combo: 'relu-relu-relu', trainLimit: '1e9', epochs: '1e0', batch: '3.2e1', every: ' 5 ', lr: '1e-2', momentum: '.5', seed: '0' });
  assert.deepEqual([c.trainLimit, c.epochs, c.batch, c.every, c.lr, c.momentum, c.seed], [1e9, 1, 32, 5, 0.01, 0.5, 0]);
  for (const [input, re] of [
    [{ epochs: '1.5e0' }, /--epochs must be a whole number ≥ 1, got '1.5e0'/],
    [{ trainLimit: '1e-3' }, /--train-limit must be a whole number ≥ 1, got '1e-3'/],
    [{ epochs: '0x10' }, /--epochs must be a whole number ≥ 1, got '0x10'/],
    [{ lr: '0x10' }, /--lr must be a finite number, got '0x10'/],
    [{ lr: 'Infinity' }, /--lr must be a finite number/],
    [{ lr: ' ' }, /--lr must be a finite number/],
    [{ batch: '1e400' }, /--batch must be a whole number ≥ 1/],
  ] as const) {
    assert.throws(() => resolveConfig({ combo: 'relu-relu-relu', ...input } as never), (e: Error & { flagMessage?: string }) => re.test(e.flagMessage ?? ''), String(re));
  }
  // as the command line passes them
  const r = await runCli(['run', 'relu-relu-relu', '--data-dir', FIXTURES, '--backend', 'wasm', '--epochs', '1e0', '--train-limit', '6.4e1', '--quiet', '--json', '--out', tmp()]);
  assert.equal(r.status, 0, r.stderr);
  const run = JSON.parse(r.stdout) as { config: { epochs: number; trainLimit: number } };
  assert.deepEqual([run.config.epochs, run.config.trainLimit], [1, 64]);
});

test('--hidden changes how many activations a combination needs', () => {
  assert.deepEqual(resolveConfig({ combo: 'tanh-relu', hidden: '64' }).hidden, [64]);
  assert.deepEqual(resolveConfig({ combo: 'TANH-selu-relu-sigmoid', hidden: [8, 4, 2] }).activations, ['tanh', 'selu', 'relu', 'sigmoid']);
});

test('config hash changes with anything that changes the numbers, not with the requested backend', () => {
  const a = resolveConfig({ combo: 'relu-sigmoid-relu' });
  assert.equal(configHash(a), configHash(resolveConfig({ combo: 'relu-sigmoid-relu', backend: 'cpu' })));
  assert.notEqual(configHash(a), configHash(resolveConfig({ combo: 'relu-sigmoid-relu', lr: 0.02 })));
  assert.notEqual(configHash(a), configHash(resolveConfig({ combo: 'relu-sigmoid-relu', seed: 2 })));
});

test('the probes setting: `all` by default, so adding a probe to probe keeps default runs\' hash; a list is deduplicated and ordered', () => {
  const base = resolveConfig({ combo: 'relu-relu-relu' });
  assert.equal(base.probes, 'all');
  // no probe id in what is hashed: a new probe in the registry cannot change this hash
  for (const id of PROBE_IDS) assert.ok(!JSON.stringify(base).includes(`"${id}"`), id);
  const h = (probes: string) => configHash(resolveConfig({ combo: 'relu-relu-relu', probes }));
  assert.equal(h('all'), configHash(base));
  assert.equal(h('loss,loss'), h('loss'));
  assert.equal(h('gradients, loss'), h('loss,gradients'));
  assert.deepEqual(resolveConfig({ combo: 'relu-relu-relu', probes: 'gradients,loss,gradients' }).probes, ['loss', 'gradients']);
  assert.notEqual(h('loss'), h('loss,gradients'));
});

test("initialization is PyTorch's: uniform in ±1/sqrt(fan_in), for weights and biases", () => {
  const [l1, l2] = initParams({ sizes: [784, 500, 256], activations: ['relu', 'relu'] }, 1);
  for (const [l, fanIn] of [[l1, 784], [l2, 500]] as const) {
    const k = 1 / Math.sqrt(fanIn);
    for (const arr of [l.w, l.b]) {
      let min = Infinity, max = -Infinity, sum = 0;
      for (const v of arr) { min = Math.min(min, v); max = Math.max(max, v); sum += v; }
      assert.ok(min >= -k && max <= k, `within ±${k}`);
      if (arr.length > 1000) {
        assert.ok(min < -0.99 * k && max > 0.99 * k, 'fills the range');
        assert.ok(Math.abs(sum / arr.length) < 0.01 * k, 'centred');
      }
    }
  }
  assert.deepEqual(initParams({ sizes: [4, 3], activations: ['relu'] }, 5), initParams({ sizes: [4, 3], activations: ['relu'] }, 5));
});
