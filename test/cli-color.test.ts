import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { colorLevel } from '../src/cli/color.js';
import { BIN, ROOT, runCli, tmp } from './helpers.js';
import { writeSyntheticTrace } from './synthetic.js';

const TTY = { isTTY: true }, FILE = { isTTY: false };
const ESC = '\x1b[';

test('colour follows --color/--no-color, then FORCE_COLOR, then NO_COLOR, then TERM=dumb, then whether the stream is a terminal', () => {
  const lvl = (s: { isTTY: boolean }, args: string[], env: Record<string, string>, detected = 2) => colorLevel(s, args, env, detected);
  assert.equal(lvl(TTY, [], {}), 2, 'a terminal: what it supports');
  assert.equal(lvl(TTY, [], {}, 0), 1, 'a terminal chalk could not classify still gets basic colour');
  assert.equal(lvl(FILE, [], {}), 0, 'a file or pipe: none');
  assert.equal(lvl(TTY, [], { NO_COLOR: '1' }), 0);
  assert.equal(lvl(TTY, [], { NO_COLOR: '' }), 2, 'NO_COLOR counts only when not empty');
  assert.equal(lvl(TTY, [], { TERM: 'dumb' }), 0);
  assert.equal(lvl(FILE, [], { FORCE_COLOR: '1' }, 0), 1);
  assert.equal(lvl(FILE, [], { FORCE_COLOR: '3' }, 0), 3);
  assert.equal(lvl(TTY, [], { FORCE_COLOR: '0' }), 0);
  assert.equal(lvl(TTY, [], { FORCE_COLOR: 'false' }), 0);
  assert.equal(lvl(FILE, [], { FORCE_COLOR: '1', NO_COLOR: '1' }, 0), 1, "FORCE_COLOR wins over NO_COLOR, as in Node");
  assert.equal(lvl(FILE, ['--color'], { NO_COLOR: '1' }, 0), 1, 'a flag wins over the environment');
  assert.equal(lvl(TTY, ['--no-color'], { FORCE_COLOR: '1' }), 0);
  assert.equal(lvl(TTY, ['--no-color', '--color'], {}), 2, 'the last flag given');
});

// The real binary on a pseudo-terminal (util-linux `script`), so stdout is a TTY as when typed.
const haveScript = existsSync('/usr/bin/script');
function onTty(cmd: string, env: Record<string, string> = {}): string {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['FORCE_COLOR', 'NO_COLOR', 'NODE_TEST_CONTEXT'].includes(k)));
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { cwd: ROOT, encoding: 'utf8', env: { ...clean, TERM: 'xterm-256color', ...env } as NodeJS.ProcessEnv });
  return r.stdout;
}

test('on a terminal: the error prefix is coloured, but not in a file stderr goes to, nor with NO_COLOR or --no-color', { skip: !haveScript && 'no util-linux script here' }, () => {
  const bad = `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} inspect no-such-file.arrow`;
  // positive control: both streams on the terminal, so colour can be seen at all
  const tty = onTty(bad);
  assert.match(tty, /error/);
  assert.ok(tty.includes(`${ESC}31merror`), JSON.stringify(tty));
  // stdout on the terminal, stderr into a file
  const file = join(tmp(), 'err.txt');
  onTty(`${bad} 2> ${JSON.stringify(file)}`);
  const err = readFileSync(file, 'utf8');
  assert.match(err, /^error .*no-such-file\.arrow/);
  assert.ok(!err.includes(ESC), JSON.stringify(err));
  for (const [cmd, env] of [[bad, { NO_COLOR: '1' }], [`${bad} --no-color`, {}]] as const) {
    const out = onTty(cmd, env);
    assert.match(out, /error .*no-such-file\.arrow/, `${cmd} ${JSON.stringify(env)}: ${out}`);
    assert.ok(!out.includes(ESC), `${cmd} ${JSON.stringify(env)}: ${JSON.stringify(out)}`);
  }
  // --color forces it into a file too
  onTty(`${bad} --color 2> ${JSON.stringify(file)}`);
  assert.ok(readFileSync(file, 'utf8').includes(`${ESC}31merror`));
});

test('probe report says what it is doing: a redrawn status line on a terminal, one line per phase in a log', { skip: !haveScript && 'no util-linux script here' }, async () => {
  const dir = tmp();
  for (const seed of [1, 2]) writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed, acc: 0.3, deadRows: 0.8, sat: 0.3 });
  // stderr into a file (a log): a plain line as each phase ends, with its time, no escape codes
  const log = join(tmp(), 'log.txt');
  onTty(`${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} report ${JSON.stringify(dir)} 2> ${JSON.stringify(log)}`);
  const lines = readFileSync(log, 'utf8').trim().split('\n').filter((l) => !l.startsWith('warning'));
  assert.equal(lines.length, 2, lines.join('\n'));
  assert.match(lines[0], /^read 2 traces \([\d.]+s\)$/);
  assert.match(lines[1], /^rendered \d+ charts as \.svg and \.png \([\d.]+s\)$/);
  assert.ok(!lines.join('').includes(ESC));
  // on the terminal: the status line, redrawn in place, with counts
  const tty = onTty(`${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} report ${JSON.stringify(dir)} --no-images`);
  assert.ok(tty.includes('\r\x1b[2K') && /reading 2\/2 relu-sigmoid-relu_s2\.arrow/.test(tty), JSON.stringify(tty.slice(0, 400)));
  // --json is for scripts: nothing but the JSON
  const j = await runCli(['report', dir, '--no-images', '--json']);
  assert.equal(j.status, 0, j.stderr);
  assert.equal(j.stderr.split('\n').filter((l) => l && !l.startsWith('warning')).length, 0, j.stderr);
});
