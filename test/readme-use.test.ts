import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, ROOT, runCli, tmp, probeCli } from './helpers.js';

process.env.FORCE_COLOR = '0';

/** The command lines of README's "Use" block, comments stripped, split as a shell would ('…' quoted). */
function useBlock(): string[][] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('```sh', readme.indexOf('\n## Use\n'));
  const block = readme.slice(start + 6, readme.indexOf('```', start + 6));
  return block.split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter(Boolean).map((l) => {
    assert.ok(l.startsWith('npx probe'), l);
    return [...l.slice('npx probe'.length).matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]);
  });
}

// Small data for every line, given first so that the line's own flags win (the last value given
// counts): the fixture MNIST slice, one epoch, wasm; the whole-study sweep shrinks to 2 × 2 runs.
const SMALL = ['--data-dir', FIXTURES, '--backend', 'wasm', '--epochs', '1', '--test-limit', '64'];
const SHRINK: Record<string, string[]> = {
  run: SMALL,
  sweep: [...SMALL, '--combos', 'relu-sigmoid-relu,relu-sigmoid-tanh', '--seeds', '1-2', '--workers', '1'],
  report: ['--no-images'],
};

test("README's Use section, typed in order, just works and every line prints what it promises: run, report, run other settings under the same name, report again, a short sweep with its cost, compare, the reference table", async () => {
  const cwd = tmp();
  // in this process (runCli), as the block's relative paths mean from a fresh folder; --help ends
  // its process, so that line runs the binary
  process.chdir(cwd);
  const lines = useBlock();
  assert.ok(lines.filter((l) => l[0] === 'run').length >= 3 && lines.filter((l) => l[0] === 'report').length >= 2, 'the block shows the loop');
  for (const args of lines) {
    const [cmd, ...rest] = args;
    if (cmd === 'watch') continue; // a server that runs until stopped (test/watch.test.ts starts and stops it)
    const positional = cmd === 'run' && rest[0] && !rest[0].startsWith('-') ? [rest.shift()!] : [];
    // paths into the project (fixtures/…) mean from its folder, where README runs npx probe
    const own = rest.map((a) => (a.startsWith('fixtures/') ? join(ROOT, a) : a));
    const full = [cmd, ...positional, ...(SHRINK[cmd] ?? []), ...own].filter((a) => a !== undefined);
    const r = full.includes('--help')
      ? probeCli(full, { cwd })
      : await runCli(full);
    assert.equal(r.status, 0, `probe ${args.join(' ')} → exit ${r.status}\n${r.stderr}`);
    // something meaningful: never a table of 'no data', and each command's own promise
    const text = r.stdout + r.stderr;
    assert.doesNotMatch(text, /no data/, `probe ${args.join(' ')} printed 'no data':\n${text}`);
    if (cmd === 'sweep') assert.match(text, /\d+ to run.*\nabout .+ on this machine: \d+ run\(s\) of ~/, `probe ${args.join(' ')} says its cost before it starts`);
    if (cmd === 'compare') {
      assert.match(text, /diverges|never diverges/, text);
      assert.doesNotMatch(text, /one group/, text);
    }
    if (cmd === 'report' && rest.includes('--reference')) assert.match(text, /reproduction \(.*\): (\d+ of \d+ combination|no combination judged against a published spread)/, text);
  }
  // the other settings' run sits beside the first, named by its settings; the report counted both
  const traces = readdirSync(join(cwd, 'runs')).filter((f) => f.endsWith('.arrow')).sort();
  assert.equal(traces.length, 3, traces.join(', '));
  assert.ok(traces.includes('relu-sigmoid-relu_s1.arrow') && traces.some((f) => /^relu-sigmoid-relu_s1_[0-9a-f]{8}\.arrow$/.test(f)), traces.join(', '));
  const verdicts = JSON.parse(readFileSync(join(cwd, 'runs', 'report', 'verdicts.json'), 'utf8'));
  assert.equal(verdicts.runs, 3);
  assert.ok(existsSync(join(cwd, 'study', '_index.feather')));
});
