import chalk, { chalkStderr } from 'chalk';
import { availableParallelism } from 'node:os';
import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Argv, ArgumentsCamelCase } from 'yargs';
import { ACTIVATIONS, BatchNormMode, emitK8s, INTERVENTIONS, emitSlurm, expandCombos, INDEX_FILE, isActivation, parseSeeds, parseShard, runSweep, workerCount, type Activation } from '../api.js';
import { ProbeError, ErrorCode } from '../errors.js';
import { ensureWritableDir } from '../fs-util.js';
import { msg } from '../messages.js';
import { withInterrupt } from './interrupt.js';
import { runInput, trainingOptions, type RunArgs } from './run.js';
import { fmtDuration, pct, ProgressLine, type Out } from './ui.js';
import { LiveView, watchFlags } from './watch.js';
import { example } from './help.js';
import type { SweepEstimate } from '../sweep/estimate.js';

interface SweepArgs extends Omit<RunArgs, 'combo'> {
  acts: string;
  combos?: string;
  seeds: string;
  workers?: string | number;
  shard?: string;
  emit?: string;
  shards?: string | number;
  image: string;
  pvc: string;
}


export function builder(y: Argv) {
  return watchFlags(trainingOptions(y, { seed: false, bnList: true }))
    .option('acts', { type: 'string', default: ACTIVATIONS.join(','), describe: 'activations to combine', group: 'Grid:' })
    .option('combos', { type: 'string', describe: "patterns, '*' for any activation (e.g. '*-sigmoid-relu,relu-*-*') [default: all]", group: 'Grid:' })
    .option('seeds', { type: 'string', default: '1-9', describe: 'seeds: lists and ranges (1-9, 1,3,5-7)', group: 'Grid:' })
    .option('workers', { type: 'number', requiresArg: true, describe: `parallel runs [default: ${availableParallelism()}, the cores]`, group: 'Scale:' })
    .option('shard', { type: 'string', describe: 'run only shard i of N (i/N), for one task of a cluster job', group: 'Scale:' })
    .option('emit', { type: 'string', choices: ['slurm', 'k8s'], describe: 'print a Slurm job-array script or a Kubernetes Indexed Job instead of running', group: 'Scale:' })
    .option('shards', { type: 'number', requiresArg: true, default: 16, describe: 'tasks in the emitted job', group: 'Scale:' })
    .option('image', { type: 'string', default: 'probe:latest', describe: 'container image (k8s)', group: 'Scale:' })
    .option('pvc', { type: 'string', default: 'probe-runs', describe: 'shared volume claim for traces (k8s)', group: 'Scale:' })
    .option('out', { type: 'string', default: 'runs', describe: 'folder for the traces and their index (_index.feather)' })
    .option('quiet', { type: 'boolean', default: false, describe: 'no progress, only the final summary' })
    .option('json', { type: 'boolean', default: false, describe: 'print the summary as JSON' })
    .example(...example('$0 sweep --out runs/', '64 combinations × 9 seeds with the study settings'))
    .example(...example("$0 sweep --combos '*-sigmoid-relu,*-sigmoid-tanh' --seeds 1-5 --epochs 3 --workers 2", 'a slice'))
    .example(...example("$0 sweep --combos '*-sigmoid-relu' --seeds 1-3 --bn none,last,all", 'each run with and without batch norm (last, all): paired'))
    .example(...example("$0 sweep --combos '*-sigmoid-relu' --seeds 1-3 --intervention none,out-bias", 'each run paired with its raised output biases (also out-linear, out-leaky)'))
    .example(...example("$0 sweep --combos '*-sigmoid-relu' --seeds 1-3 --watch", 'follow the runs in the browser: progress, ETA, charts, verdicts as runs finish'))
    .example(...example('$0 sweep --shard 3/16 --out /shared/runs/', 'one slice of a cluster job'))
    .example(...example('$0 sweep --emit slurm --shards 64 > sweep.sbatch', 'a job-array script (or --emit k8s)'));
}

/** The sweep's own arguments, minus those the emitted job sets per task. */
function passThrough(args: readonly string[]): string[] {
  const drop = new Set(['--emit', '--shards', '--shard', '--workers', '--image', '--pvc', '--out', '--json', '--quiet', '--watch', '--watch-port', '--watch-host', '--allow-remote']);
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const [name] = args[i].split('=');
    if (drop.has(name)) { if (!args[i].includes('=') && i + 1 < args.length && !args[i + 1].startsWith('--')) i++; continue; }
    if (args[i] === 'sweep') continue;
    out.push(args[i]);
  }
  return out;
}

export async function handler(argv: ArgumentsCamelCase<SweepArgs>): Promise<void> {
  if (argv.seed !== undefined) throw new ProbeError(ErrorCode.config, msg.notInRange('--seed', argv.seed, 'given as --seeds for a sweep (e.g. --seeds 1-9)'));
  const acts = argv.acts.split(',').map((a) => a.trim().toLowerCase());
  for (const a of acts) if (!isActivation(a)) throw new ProbeError(ErrorCode.config, msg.unknownAct(a, argv.acts));
  const hidden = argv.hidden ? argv.hidden.split(',').length : 2;
  const combos = expandCombos(acts as Activation[], argv.combos, hidden + 1);
  const seeds = parseSeeds(argv.seeds);
  const bns = [...new Set(argv.bn.split(',').map((b) => b.trim()))];
  for (const b of bns) if (!(Object.values(BatchNormMode) as string[]).includes(b)) throw new ProbeError(ErrorCode.config, msg.badChoice('--bn', b, Object.values(BatchNormMode)));
  const ivs = [...new Set(argv.intervention.split(',').map((b) => b.trim()))];
  for (const v of ivs) if (!(INTERVENTIONS as readonly string[]).includes(v)) throw new ProbeError(ErrorCode.config, msg.badChoice('--intervention', v, INTERVENTIONS));
  const shard = argv.shard ? parseShard(argv.shard) : null;
  if (argv.emit) {
    const shards = Number(argv.shards);
    if (!Number.isInteger(shards) || shards < 1) throw new ProbeError(ErrorCode.config, msg.notInteger('--shards', argv.shards, 1));
    const bin = fileURLToPath(new URL('../../../bin/probe.js', import.meta.url));
    const o = { args: passThrough(process.argv.slice(2)), shards, out: resolve(argv.out), workdir: process.cwd(), bin, node: process.execPath, cpus: 2, image: argv.image, pvc: argv.pvc, name: 'probe-sweep' };
    // Slurm opens each task's log in --out before the task runs: without the folder every task
    // fails at once (exit 0:53) and leaves no log saying why
    if (argv.emit === 'slurm') ensureWritableDir(o.out);
    if (argv.backend === 'auto') process.stderr.write(`${msg.emitBackendAuto()}\n`);
    process.stdout.write(argv.emit === 'slurm' ? emitSlurm(o) : emitK8s(o));
    return;
  }
  const workers = argv.workers === undefined ? undefined : Number(argv.workers);
  if (workers !== undefined && !(Number.isInteger(workers) && workers >= 1)) throw new ProbeError(ErrorCode.config, msg.notInteger('--workers', argv.workers, 1));
  const out: Out = { err: process.stderr, quiet: argv.quiet };
  const line = new ProgressLine(out);
  const view = await LiveView.of(argv, argv.out);
  const t0 = performance.now();
  const { seed: _s, combo: _c, ...flags } = runInput({ ...argv, combo: combos[0] });
  void _s; void _c;
  // the cost before it is paid: a run's step and evaluation timed here (loads tfjs in this process)
  let estimate: SweepEstimate | null = null;
  if (!out.quiet && !argv.json) {
    line.status('timing a step and an evaluation on this machine, to say what the sweep costs…');
    const t0 = performance.now();
    const { estimateSweep } = await import('../sweep/estimate.js');
    estimate = await estimateSweep({ ...flags, combo: combos[0], bn: bns[0], intervention: ivs[0] }, 1, 1, (performance.now() - t0) / 1000).catch(() => null);
    line.clear();
  }
  const r = await withInterrupt((signal) => runSweep({
    combos, seeds, shard, workers, out: argv.out, force: argv.force, signal, run: { ...flags, bn: bns[0], intervention: ivs[0] }, bns, interventions: ivs,
    listener: {
      onPlan: (plan) => {
        view?.plan(plan.filter((p) => p.action === 'run' || p.action === 'redo').map((p) => ({ run: p.run, file: basename(p.path) })));
        if (out.quiet) return;
        const count = (a: string) => plan.filter((p) => p.action === a).length;
        out.err.write(`${chalkStderr.bold('probe sweep')} ${combos.length} combination(s) × ${seeds.length} seed(s)${bns.length > 1 ? ` × ${bns.length} batch-norm settings (${bns.join(', ')})` : ''}${ivs.length > 1 ? ` × ${ivs.length} interventions (${ivs.join(', ')})` : ''}${shard ? ` · shard ${shard.index}/${shard.count}` : ''} = ${plan.length} runs → ${resolve(argv.out)}\n`);
        const pending = count('run') + count('redo');
        const n = workerCount(workers, pending);
        if (n > availableParallelism()) out.err.write(`${chalkStderr.yellow('warning')} ${msg.manyWorkers(n, availableParallelism())}\n`);
        out.err.write(`${count('run')} to run, ${count('redo')} to redo (truncated or unreadable), ${count('skip')} already finished${count('busy') ? `, ${count('busy')} being computed by another process (waited for; retaken if it dies)` : ''} · ${n} worker(s)\n`);
        if (estimate && pending > 0) out.err.write(`${msg.sweepCost(pending, n, estimate)}\n`);
      },
      onProgress: (p) => {
        const cur = p.running.map((r) => `${r.run} ${pct(r.fraction, 0)}`).join(' · ');
        line.status(`${p.done}/${p.total} runs · ${cur}${p.eta !== null ? ` · ETA ${fmtDuration(p.eta)}` : ''}`);
      },
      onRunDone: (d) => {
        line.clear();
        if (!out.quiet) out.err.write(`[${d.done}/${d.total}] ${d.run.run} ${(d.status === 'complete' ? chalkStderr.green : chalkStderr.yellow)(d.status)} · test acc ${pct(d.testAcc, 2)} · ${fmtDuration(d.seconds)}\n`);
      },
      onRunElsewhere: (e) => {
        line.clear();
        if (!out.quiet) out.err.write(`${e.run.run} ${chalkStderr.dim(`finished by another process: ${e.why}`)}\n`);
      },
      onRunFailed: (f) => {
        line.clear();
        out.err.write(`${chalkStderr.red('failed')} ${f.run.run}: ${f.message}\n`);
      },
    },
  })).catch(async (e: unknown) => { await view?.close(); throw e; }).finally(() => line.clear());
  const summary = { out: r.out, planned: r.planned, skipped: r.skipped, completed: r.completed, failed: r.failed, elsewhere: r.elsewhere, notRun: r.notRun, interrupted: r.interrupted, seconds: (performance.now() - t0) / 1000 };
  if (argv.json) process.stdout.write(JSON.stringify(summary) + '\n');
  else process.stdout.write(`${r.failed.length || r.notRun ? chalk.yellow('■') : chalk.green('✔')} sweep: ${r.completed} run(s) completed, ${r.skipped} skipped (already finished), ${r.elsewhere ? `${r.elsewhere} finished by another process, ` : ''}${r.failed.length} failed, ${r.notRun} not run · ${fmtDuration(summary.seconds)} · index ${chalk.cyan(resolve(r.out, INDEX_FILE))}\n`);
  // what to do next, once the folder holds the whole grid (a shard holds a slice of it)
  if (!argv.json && !out.quiet && !r.interrupted && !r.failed.length && !r.notRun && !shard) out.err.write(chalkStderr.dim(`next: probe report ${argv.out} — the verdicts on H1 and H2, and the dashboards\n`));
  if (r.interrupted) await view?.close();
  else await view?.stayOpen();
  if (r.interrupted) throw new ProbeError(ErrorCode.interrupted, msg.sweepInterrupted(r.notRun));
  // never 0 with runs of the grid not done (every worker died, say)
  if (r.failed.length || r.notRun) process.exitCode = 1;
}
