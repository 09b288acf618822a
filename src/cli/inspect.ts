import chalk from 'chalk';
import { basename } from 'node:path';
import type { Argv, ArgumentsCamelCase } from 'yargs';
import { diagnoseTrace, isIndexName, layerActivation, readTrace, studyDiagnosisOf, summarizeTrace, type RunDiagnosis, type StudyDiagnosis, type TraceSummary } from '../api.js';
import { diagnosisLines, fmtDuration, num, pct, table } from './ui.js';
import { example } from './help.js';
import { ProbeError, ErrorCode } from '../errors.js';
import { msg } from '../messages.js';
import { AttachedEngine, isAttached } from '../trace/schema.js';
import { checkTrace } from '../read/conformance.js';
import type { Trace } from '../trace/reader.js';

interface InspectArgs {
  trace: string;
  json: boolean;
  check: boolean;
}


export function builder(y: Argv) {
  return y
    .positional('trace', { type: 'string', demandOption: true, describe: 'an .arrow trace written by probe run' })
    .option('json', { type: 'boolean', default: false, describe: 'print the summary as JSON' })
    .option('check', { type: 'boolean', default: false, describe: 'check the trace against docs/trace-format.md (any writer: probe, attachProbes, probe_torch); exit 1 naming each violation' })
    .example(...example('$0 inspect runs/relu-sigmoid-relu_s1.arrow', ''))
    .example(...example("$0 inspect runs/x.arrow --json | jq '.epochs[-1].testAcc'", 'for scripts'))
    .example(...example('$0 inspect runs/x.arrow --check', 'does it follow the trace format?'));
}

export function handler(argv: ArgumentsCamelCase<InspectArgs>): void {
  if (isIndexName(basename(argv.trace))) throw new ProbeError(ErrorCode.usage, msg.inspectIndex(argv.trace));
  const t = readTrace(argv.trace);
  if (argv.check) return check(t, argv.json);
  const s = summarizeTrace(t);
  const diagnosis = diagnoseTrace(t);
  // the study's line is about H1/H2's mechanisms in its MLP: probe's own runs, and any trace whose
  // writer evaluated the study's measures (a PyTorch run of the study's model)
  const studyLine = studyDiagnosisOf(t);
  const study = diagnosis.own || studyLine.errors !== null ? studyLine : null;
  process.stdout.write((argv.json ? JSON.stringify({ ...s, diagnosis, ...(study ? { studyDiagnosis: study } : {}) }, null, 2) : render(s, diagnosis, study)) + '\n');
  // A truncated trace is readable, but scripts should be able to tell.
  if (s.truncated) process.exitCode = 3;
}

/** `--check`: the violations of the trace format, or that there are none. */
function check(t: Trace, json: boolean): void {
  const r = checkTrace(t);
  if (json) process.stdout.write(JSON.stringify({ path: t.path, conforms: r.violations.length === 0, ...r }, null, 2) + '\n');
  else if (r.violations.length === 0) process.stdout.write(`${t.path}: follows the trace format (docs/trace-format.md, version 1): ${r.rows.toLocaleString('en-US')} rows checked${t.truncated ? `; ${chalk.yellow('truncated')} (${t.status})` : ''}\n`);
  else {
    const lines = r.violations.map((v) => `  ${chalk.red(v.rule)} ${v.detail}`);
    if (r.more) lines.push(`  … and ${r.more} more`);
    process.stdout.write(`${t.path}: ${r.violations.length + r.more} violation(s) of the trace format (docs/trace-format.md):\n${lines.join('\n')}\n`);
  }
  process.exitCode = r.violations.length ? 1 : t.truncated ? 3 : 0;
}

export function statusLine(s: TraceSummary): string {
  const d = s.progress?.diverged;
  if (d) return chalk.red(`DIVERGED at step ${d.step} (${d.reason}); ${s.epochs.length} of ${s.epochsPlanned ?? '?'} epochs finished before`);
  const st = s.progress?.stopped;
  if (st) return chalk.red(`STOPPED at step ${st.step} by rule ${st.text}; ${s.epochs.length} of ${s.epochsPlanned ?? '?'} epochs, the last cut short there`);
  if (!s.truncated) return chalk.green('complete');
  const planned = s.epochsPlanned ?? '?';
  const why = s.recovered
    ? 'its footer was damaged (the process died while writing); batches were recovered in order'
    : s.status === 'running'
      ? 'the process ended without closing it (killed or crashed)'
      : s.status === 'interrupted' ? 'it was interrupted (Ctrl-C or SIGTERM)' : 'the run failed with an error';
  const resumable = s.config && (s.config as Record<string, unknown>).source === undefined ? '; the same probe run resumes it from its last checkpoint' : '';
  return chalk.yellow(`TRUNCATED: ${s.epochs.length} of ${planned} epochs finished, probe rows up to step ${s.stepsRecorded - 1}; ${why}${resumable}`);
}

/** A trace of an attached model: its layers by name and class, what was not probed, its optimizer. */
function attachedLines(s: TraceSummary): string[] {
  const f = s.facts, c = s.config as Record<string, unknown>;
  const opt = (c.optimizer ?? {}) as Record<string, unknown>;
  const known = (v: unknown) => v !== undefined && v !== null;
  const data = f.dataset.trainSize > 0 ? `${f.dataset.name} (${f.dataset.trainSize} train / ${f.dataset.testSize} test)` : 'given by the caller (not recorded)';
  const lines = [
    `model ${c.modelFile ?? c.model ?? f.combo} (${f.engine === AttachedEngine.pytorch ? 'PyTorch, probe_torch' : 'attached probes'}) · data ${data}`,
    `layers ${f.layers.map((l) => `${l.layer} ${l.name ?? '?'} ${chalk.dim(l.className ?? '')} ${l.fanOut} ${l.unitKind ?? 'unit'}s ${layerActivation(l)}`).join(', ')}`,
  ];
  if (f.unprobed?.length) lines.push(`not probed ${f.unprobed.map((u) => `${u.name} ${chalk.dim(`(${u.className}: ${u.reason})`)}`).join(', ')}`);
  const optText = [String(opt.className ?? '?'), ...Object.entries(opt).filter(([k]) => k !== 'className').map(([k, v]) => `${k} ${v}`)].join(' ');
  lines.push(`config optimizer ${optText}${known(c.batch) ? ` · batch ${c.batch}` : ''}${known(c.epochs) ? ` · epochs ${c.epochs}` : ''} · probes every ${c.every} step(s) · hash ${c.configHash}`);
  return lines;
}

/** `u0, u1, …, u499` → `u0…u499 (500 units)`: a wide layer's per-unit names in one line. */
function metricList(names: readonly string[]): string {
  const units = names.filter((n) => /^(active_)?u\d+$/.test(n));
  if (units.length <= 16) return names.join(', ');
  const rest = names.filter((n) => !units.includes(n));
  return [...rest, `${units[0]}…${units.at(-1)} (${units.length} units)`].join(', ');
}

function render(s: TraceSummary, diagnosis: RunDiagnosis, study: StudyDiagnosis | null): string {
  const f = s.facts, c = s.config as Record<string, unknown>;
  const out: string[] = [];
  out.push(`${chalk.bold(s.path)} · Arrow IPC file, trace version ${chalk.dim('1')} · ${s.rows.toLocaleString('en-US')} rows · ${(s.bytes / 1e6).toFixed(1)} MB`);
  out.push(`status: ${statusLine(s)}`);
  // what is wrong comes first; how the trace was made follows
  out.push(...diagnosisLines(diagnosis));
  if (study) out.push(`${chalk.bold('study')} ${study.text}`);
  out.push(`run ${chalk.bold(f.combo)} seed ${f.seed} · backend ${f.backend} · engine ${f.engine} · started ${f.startedAt}${s.progress?.endedAt ? ` · ended ${s.progress.endedAt}` : ''}`);
  for (const e of s.progress?.rules ?? []) if (e !== s.progress?.stopped && e.action === 'warn') out.push(chalk.yellow(`rule fired (warn) at step ${e.step}: ${e.text}`));
  for (const r of f.resumed ?? []) out.push(`resumed at step ${r.step} on ${r.at} (backend ${r.backend}${r.kernels ? `, kernels ${r.kernels}` : ''})`);
  if (isAttached(f)) out.push(...attachedLines(s));
  else {
    out.push(`data ${f.dataset.name} (${f.dataset.trainSize} train / ${f.dataset.testSize} test) · layers ${f.layers.map((l) => `${l.fanIn}→${l.fanOut} ${layerActivation(l)}`).join(', ')}`);
    out.push(`config lr ${c.lr} · momentum ${c.momentum} · batch ${c.batch} · epochs ${c.epochs} · probes every ${c.every} step(s) · hash ${c.configHash}`);
  }
  out.push(`versions ${Object.entries(f.versions).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  out.push(`columns ${s.columns.map((col) => `${col.name}: ${chalk.dim(col.type)}`).join(' · ')}`);
  out.push('recorded');
  for (const r of s.recorded) {
    const l = r.layer === 0 ? null : f.layers[r.layer - 1];
    const act = r.layer === 0 ? 'network' : l ? layerActivation(l) : '?';
    out.push(`  layer ${r.layer} ${chalk.dim(act)} ${r.probe}: ${metricList(r.metrics)}`);
  }
  if (s.epochs.length) {
    out.push('per epoch');
    out.push(table(['epoch', 'step', 'train loss', 'test loss', 'test acc', 'time', 'probes'],
      s.epochs.map((e) => [String(e.epoch), String(e.step), num(e.trainLoss), num(e.testLoss), pct(e.testAcc, 2),
        e.seconds == null ? '—' : fmtDuration(e.seconds), e.seconds && e.probeSeconds != null ? pct(e.probeSeconds / e.seconds) : '—'])).replace(/^/gm, '  '));
  } else {
    out.push('per epoch: none finished');
  }
  return out.join('\n');
}
