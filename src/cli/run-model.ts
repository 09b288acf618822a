/** `probe run --model DIR/model.json`: the progress and summary of {@link runModel}. */
import chalk, { chalkStderr } from 'chalk';
import { statSync } from 'node:fs';
import { diagnoseTrace, layerActivation, readTrace, runModel, type ModelRunInput, type ModelRunResult, type RunDiagnosis } from '../api.js';
import { diagnosisLines, EXIT_STOPPED, endedAs, ruleFired, fmtDuration, layerFiguresTable, num, pct, ProgressLine, table, type Out } from './ui.js';
import { withInterrupt } from './interrupt.js';

export async function runModelCommand(input: ModelRunInput, o: { out: string; name?: string; force: boolean; quiet: boolean; json: boolean }): Promise<void> {
  const out: Out = { err: process.stderr, quiet: o.quiet };
  const bar = new ProgressLine(out);
  let t0 = performance.now(), epochs = 0;
  const result = await withInterrupt((signal) => runModel(input, {
    out: o.out,
    ...(o.name !== undefined ? { name: o.name } : {}),
    force: o.force,
    signal,
    listener: {
      onRunBegin: (r) => {
        epochs = r.epochs;
        if (out.quiet) return;
        const skipped = r.backend.skipped.map((s) => `${s.name}: ${s.why}`).join('; ');
        out.err.write(`${chalkStderr.bold(`probe run --model ${input.model}`)} · ${r.weights === 'file' ? 'weights from the file' : 'topology only: weights drawn from --seed'} · ${r.epochs} epoch${r.epochs > 1 ? 's' : ''} × ${r.stepsPerEpoch} steps · batch ${r.batch}\n`);
        out.err.write(`backend ${chalkStderr.green(r.backend.name)}${skipped ? chalkStderr.dim(` (skipped ${skipped})`) : ''} · ${r.layers.length} probed layer${r.layers.length === 1 ? '' : 's'}${r.unprobed.length ? `, ${r.unprobed.length} not probed` : ''}\n`);
        out.err.write(`trace ${chalkStderr.cyan(r.path)}\n`);
        t0 = performance.now();
      },
      onStepEnd: (p) => {
        if (p.stepInEpoch === 1) t0 = performance.now() - 1;
        const rate = (p.stepInEpoch / (performance.now() - t0)) * 1000;
        bar.update(`epoch ${p.epoch}/${epochs}`, p.stepInEpoch, p.stepsPerEpoch, `loss ${p.loss.toFixed(4)}`, rate);
      },
      onPathology: (e) => {
        bar.clear();
        out.err.write(`${ruleFired(e)}\n`);
      },
      onEpochEnd: (e) => {
        bar.clear();
        if (!out.quiet) out.err.write(`epoch ${e.epoch}/${epochs}  train loss ${num(e.trainLoss)}  test loss ${num(e.testLoss)}  test acc ${chalkStderr.bold(pct(e.testAcc, 2))}  ${chalkStderr.dim(fmtDuration(e.seconds))}\n`);
      },
    },
  })).finally(() => bar.clear());
  if (result.status === 'stopped') process.exitCode = EXIT_STOPPED;
  const diagnosis = diagnoseTrace(readTrace(result.path));
  process.stdout.write((o.json ? JSON.stringify({ ...result, diagnosis }) : modelSummary(result, diagnosis)) + '\n');
}

export function modelSummary(r: ModelRunResult, diagnosis?: RunDiagnosis): string {
  const lines: string[] = [];
  const { mark, text } = endedAs(r.status, r.diverged, r.stopped);
  lines.push(`${mark} ${chalk.bold(r.run)} · ${text} · ${r.steps} steps · backend ${r.backend}`);
  if (diagnosis) lines.push(...diagnosisLines(diagnosis));
  if (r.epochs.length) {
    lines.push('', table(['epoch', 'train loss', 'test loss', 'test acc', 'time'],
      r.epochs.map((e) => [String(e.epoch), num(e.trainLoss), num(e.testLoss), pct(e.testAcc, 2), fmtDuration(e.seconds)])));
  }
  const cells = r.layers.map((l) => ({ layer: l.layer, cells: [`${l.layer}${l.isOutput ? ' (out)' : ''}`, l.name, l.className, layerActivation(l), `${l.units} ${l.unitKind}s`] }));
  if (r.last.length) lines.push('', 'last probed step', layerFiguresTable(r.last, cells, ['layer', 'name', 'class', 'act', 'units']));
  if (r.unprobed.length) lines.push('', 'not probed', table(['name', 'class', 'why'], r.unprobed.map((u) => [u.name, u.className, u.reason])));
  let size = '';
  try { size = ` · ${(statSync(r.path).size / 1e6).toFixed(1)} MB`; } catch { /* gone */ }
  lines.push('', `trace ${chalk.cyan(r.path)}${size}`);
  return lines.join('\n');
}
