/**
 * `probe sweep --emit slurm` on a real Slurm cluster: one node on this machine, started by
 * scripts/slurm-local.sh. The emitted array is submitted as printed (from outside the project
 * folder, with `--export=NONE` so the job sees none of our environment), one task is cancelled
 * and one killed between their two runs, the array is submitted again, and the folder must then
 * hold every run complete exactly once, the runs finished before untouched. Skips, with the script's
 * one-line reason, where Slurm cannot run (not root, not Linux, no apt-get to install it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { tableFromIPC } from 'apache-arrow';
import { ACTIVATIONS } from '../src/activations/index.js';
import { runName } from '../src/config.js';
import { expandCombos, grid, parseShard, shardOf } from '../src/sweep/grid.js';
import { readTraceMeta } from '../src/trace/reader.js';
import { ROOT, tmp, probeCli } from './helpers.js';

const SCRIPT = join(ROOT, 'scripts', 'slurm-local.sh');
const SHARDS = 4;
const combos = expandCombos(ACTIVATIONS, '*-sigmoid-relu', 3);
const seeds = [1, 2];
const runsOf = (shard: number) => shardOf(grid(combos, seeds), parseShard(`${shard}/${SHARDS}`)).map((p) => runName(p));
const ALL = grid(combos, seeds).map((p) => runName(p));

function complete(path: string): boolean {
  try { return !readTraceMeta(path).truncated; } catch { return false; }
}

test('a Slurm job array runs the grid once; resubmitted after a cancel and a kill, it finishes only what is missing', { timeout: 420_000 }, async (t) => {
  const dir = tmp('probe-slurm-');
  const stop = () => spawnSync('bash', [SCRIPT, 'stop', dir], { encoding: 'utf8' });
  t.after(() => { stop(); rmSync(dir, { recursive: true, force: true }); });
  const t0 = performance.now();
  const phase = (what: string) => t.diagnostic(`${((performance.now() - t0) / 1000).toFixed(0)} s: ${what}`);
  const up = spawnSync('bash', [SCRIPT, 'start', dir], { encoding: 'utf8' });
  if (up.status === 3) return t.skip(up.stderr.trim());
  assert.equal(up.status, 0, `slurm-local.sh start: ${up.stderr}`);
  phase('cluster up');
  const env = { ...process.env, SLURM_CONF: join(dir, 'slurm.conf') };
  const slurm = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8', env, cwd: dir });
    assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };

  // emitted from the fixtures folder with a relative --data-dir: the job must cd there and must
  // not rely on `npx probe`, which outside the project fetches another npm package
  const out = join(dir, 'runs of the sweep');
  const emit = probeCli(['sweep', '--emit', 'slurm', '--shards', String(SHARDS), '--combos', '*-sigmoid-relu', '--seeds', '1-2',
    '--epochs', '20', '--data-dir', 'mnist-tiny', '--backend', 'wasm', '--out', out], { cwd: join(ROOT, 'fixtures') });
  assert.equal(emit.status, 0, emit.stderr);
  assert.equal(emit.stderr, '', 'one engine given: no note');
  assert.ok(existsSync(out), 'the emitter creates --out, where Slurm opens the task logs');
  const script = join(dir, 'sweep.sbatch');
  writeFileSync(script, emit.stdout);
  mkdirSync(join(dir, 'elsewhere'));

  // one CPU per task so that two tasks run at once on a two-CPU node; the script's workers follow
  const submit = () => slurm('sbatch', ['--parsable', '--export=NONE', '--cpus-per-task=1', '--chdir', join(dir, 'elsewhere'), script]).split(';')[0];
  const pending = (job: string) => slurm('squeue', ['-h', '-j', job, '-o', '%i']) !== '';
  const waitFor = async (job: string, what: string, done: () => boolean) => {
    const deadline = Date.now() + 150_000;
    while (!done()) {
      assert.ok(Date.now() < deadline, `${what} within 150 s (job ${job}; squeue: ${slurm('squeue', ['-h', '-o', '%i %T %r'])})`);
      await sleep(200);
    }
  };
  /** final state per array task, from the jobcomp/filetxt log */
  const states = (job: string) => {
    const lines = readFileSync(join(dir, 'jobcomp.txt'), 'utf8').split('\n').filter((l) => l.includes(` ArrayJobId=${job} `));
    for (const l of lines) t.diagnostic(l.replace(/ (UserId|GroupId|Partition|TimeLimit|NodeCnt|ProcCnt|WorkDir|ReservationName|Tres|Account|QOS|WcKey|Cluster|SubmitTime|EligibleTime|DerivedExitCode)=\S*/g, ''));
    return Object.fromEntries(lines.map((l) => [Number(/ArrayTaskId=(\d+)/.exec(l)![1]), /JobState=(\S+)/.exec(l)![1]]));
  };
  const log = (job: string, task: number) => readFileSync(join(out, `slurm-${job}_${task}.log`), 'utf8');
  const trace = (run: string) => join(out, `${run}.arrow`);

  // 1. the whole array, two tasks stopped once their first run is complete and their second
  // started: task 4 by scancel (SIGTERM, then SIGKILL after KillWait), task 3 killed outright
  // (SIGKILL to every process, as a node crash or the OOM killer would)
  phase('emitted');
  const job1 = submit();
  const stops = [
    { task: 3, args: ['--full', '--signal=KILL'], done: false },
    { task: 4, args: [], done: false },
  ].map((c) => ({ ...c, runs: runsOf(c.task) }));
  await waitFor(job1, 'tasks 3 and 4 between their runs', () => {
    for (const c of stops.filter((c) => !c.done && complete(trace(c.runs[0])) && existsSync(trace(c.runs[1])))) {
      slurm('scancel', [...c.args, `${job1}_${c.task}`]);
      phase(`scancel ${c.args.join(' ')} ${job1}_${c.task}`);
      c.done = true;
    }
    return stops.every((c) => c.done);
  });
  await waitFor(job1, 'the first array to end', () => !pending(job1));
  phase('first array ended');
  const cut = stops.map((c) => c.runs[1]);
  for (const r of cut) assert.ok(!complete(trace(r)), `${r} was stopped mid-run (it finished before scancel landed)`);
  assert.deepEqual(states(job1), { 1: 'COMPLETED', 2: 'COMPLETED', 3: 'CANCELLED', 4: 'CANCELLED' });
  for (const task of [1, 2]) assert.match(log(job1, task), /2 run\(s\) completed, 0 skipped/, `task ${task}'s log`);
  for (const task of [3, 4]) t.diagnostic(`task ${task}'s log: ${log(job1, task).trim().split('\n').join(' | ')}`);
  // scancel's SIGTERM reaches the workers too: the run is interrupted, not failed
  assert.match(log(job1, 4), /1 run\(s\) completed, 0 skipped \(already finished\), 0 failed, 1 not run/);
  assert.match(log(job1, 4), /sweep interrupted: 1 run\(s\) not finished/);
  assert.equal(readTraceMeta(trace(cut[1])).status, 'interrupted');
  // the killed one: left as its last checkpoint, or closed as interrupted by a worker that saw its
  // parent die first; either way not complete (checked above) and redone below
  t.diagnostic(`${cut[0]} after the kill: ${readTraceMeta(trace(cut[0])).status}`);
  const finished = ALL.filter((r) => !cut.includes(r));
  for (const r of finished) assert.ok(complete(trace(r)), `${r} complete after the first array`);
  const before = new Map(finished.map((r) => { const s = statSync(trace(r)); return [r, `${s.ino}:${s.mtimeMs}`]; }));

  // 2. the same array again: two tasks skip everything, tasks 3 and 4 redo only their cut runs
  const job2 = submit();
  await waitFor(job2, 'the second array to end', () => !pending(job2));
  phase('second array ended');
  assert.deepEqual(states(job2), { 1: 'COMPLETED', 2: 'COMPLETED', 3: 'COMPLETED', 4: 'COMPLETED' });
  for (const task of [1, 2]) assert.match(log(job2, task), /0 run\(s\) completed, 2 skipped/, `task ${task}'s log`);
  for (const task of [3, 4]) assert.match(log(job2, task), /1 run\(s\) completed, 1 skipped/, `task ${task}'s log`);
  for (const [r, id] of before) {
    const s = statSync(trace(r));
    assert.equal(`${s.ino}:${s.mtimeMs}`, id, `${r} was not rewritten`);
  }

  // every run of the grid complete, exactly once: by the report, the traces and the sweep index
  const report = probeCli(['report', out, '--out', join(dir, 'report'), '--json', '--no-images']);
  assert.equal(report.status, 0, report.stderr);
  const verdicts = JSON.parse(report.stdout) as { runs: number; truncated: number };
  assert.deepEqual({ runs: verdicts.runs, truncated: verdicts.truncated }, { runs: ALL.length, truncated: 0 });
  for (const r of ALL) assert.ok(complete(trace(r)), `${r} complete`);
  const index = tableFromIPC(readFileSync(join(out, '_index.feather')));
  const rows = index.toArray().map((row) => `${String(row.run)} ${String(row.status)}`).sort();
  assert.deepEqual(rows, ALL.map((r) => `${r} complete`).sort());

  phase('reported');
  // and nothing of the cluster is left running
  assert.equal(stop().status, 0);
  assert.notEqual(spawnSync('bash', [SCRIPT, 'status', dir]).status, 0, 'the cluster is down after stop');
  phase('cluster stopped');
});
