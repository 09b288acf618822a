/**
 * `npm run bench`: probe's training step against PyTorch on this machine, side by side in one run.
 *
 *   1. ms/step of probe's step on the study's MLP (batch 32, real MNIST batches), per backend, for a
 *      few combinations: probes off, all probes on every step (with trace rows appended), the
 *      probes on the schedules `probe run` records with (its default --every 10: what a run pays),
 *      and the tfjs-autodiff reference engine, and probes off/on again with the activations outside the
 *      products (PROBE_FUSED=0) in the same rounds;
 *   2. the same step in PyTorch: Debian's python3-torch with OpenBLAS and a PyTorch 2.x wheel in a
 *      virtualenv (bench/setup-python.sh installs both; a missing one is skipped with its reason);
 *   3. trace-writing share, RSS over a full run, two concurrent runs, and the full study grid
 *      extrapolated from them.
 *
 * Flags: --quick (fewer steps, no long run), --backends wasm,cpu, --combos a-b-c,..., --no-torch,
 * --json FILE (write all numbers), --report (only the report benchmark, bench/report.ts),
 * --attach (only the attached-probe benchmark, bench/attach.ts; --no-attach skips it),
 * --torch-attach (only the PyTorch recorder's benchmark, bench/torch-attach.ts; --no-torch-attach skips it).
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseCombo } from '../src/activations/index.js';
import { DEFAULT_EVERY } from '../src/config.js';
import { ProbeHost } from '../src/probes/host.js';
import { DEFAULT_PROBE_SETTINGS, type LayerInfo } from '../src/probes/probe.js';
import { PROBES } from '../src/probes/registry.js';
import { TraceWriter } from '../src/trace/writer.js';
import { RunStatus } from '../src/trace/schema.js';
import { selectBackend, type BackendName } from '../src/train/backend.js';
import { BatchBuilder, disposeBatch } from '../src/train/batch.js';
import { loadMnist } from '../src/train/data.js';
import { Mlp, type EngineKind } from '../src/train/engine.js';
import { initParams } from '../src/train/model.js';
import { permutation, rng } from '../src/train/rng.js';
import { kernelSet } from '../src/train/kernels/products.js';
import { measurePeakPair, measureProcesses, measureProducts, type PeakPair, type ProcessFigures, type ProductFigures } from './products.js';
import { nodeDispatch, type NodeDispatch } from './node-dispatch.js';

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const opt = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1] : dflt;
};
const quick = flag('quick');
const combos = opt('combos', 'relu-sigmoid-relu,sigmoid-sigmoid-relu,relu-relu-relu,tanh-tanh-tanh').split(',');
const backends = opt('backends', 'node,wasm,cpu').split(',') as BackendName[];
const ROOT = new URL('../../', import.meta.url).pathname;
const log = (s: string) => process.stderr.write(s + '\n');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Mode { readonly name: 'off' | 'on' | 'run' | 'tape' | 'offUnfused' | 'onUnfused'; readonly engine: EngineKind; readonly probes: boolean; readonly fused: boolean; readonly every?: number }
const MODES: Mode[] = [
  { name: 'off', engine: 'fast', probes: false, fused: true },
  { name: 'on', engine: 'fast', probes: true, fused: true },
  // what `probe run` records: each probe on its default schedule (--every 10; the loss and unit
  // activity every step, the distribution every 25th), rows appended as a run writes them
  { name: 'run', engine: 'fast', probes: true, fused: true, every: DEFAULT_EVERY },
  { name: 'tape', engine: 'tape', probes: false, fused: true },
  // the same fast step with the activations outside the products (PROBE_FUSED=0), in the same rounds
  { name: 'offUnfused', engine: 'fast', probes: false, fused: false },
  { name: 'onUnfused', engine: 'fast', probes: true, fused: false },
];

interface StepResult { backend: string; combo: string; input: string; paired: number; runPaired: number; run: number; off: number; on: number; tape: number; offUnfused: number; onUnfused: number; writeShare: number; dispatch?: NodeDispatch }

async function measureSteps(backend: BackendName): Promise<StepResult[] | string> {
  try {
    await selectBackend(backend);
  } catch (e) {
    return (e as Error).message;
  }
  const data = loadMnist();
  const builder = new BatchBuilder(data.train, data.lut, data.lutOffset, data.classes);
  const order = permutation(data.train.n, rng(1, 'shuffle', 1));
  const slow = backend === 'cpu';
  // the fast backends get more rounds: the VM's speed drifts by 10-25% from minute to minute
  const block = quick ? 40 : slow ? 40 : 150, rounds = quick ? 3 : slow ? 5 : 9, warmup = slow ? 10 : 30;
  const out: StepResult[] = [];
  for (const combo of combos) {
    const acts = parseCombo(combo, 3);
    const sizes = [784, 500, 256, 10];
    const layers: LayerInfo[] = acts.map((activation, i) => ({ layer: i + 1, activation, fanIn: sizes[i], fanOut: sizes[i + 1], isOutput: i === 2 }));
    const host = new ProbeHost(PROBES, layers, DEFAULT_PROBE_SETTINGS);
    const dir = mkdtempSync(join(tmpdir(), 'probe-bench-'));
    const probeNames = [...new Set(host.slots.map((s) => s.probe))], metricNames = [...new Set(host.slots.map((s) => s.metric))];
    const prog = { status: RunStatus.running, epochsDone: 0, stepsDone: 0, updatedAt: '', endedAt: null, epochSeconds: [], probeOverhead: null, writeOverhead: null };
    const writer = TraceWriter.create(join(dir, 't.arrow'), { run: combo, probes: probeNames, metrics: metricNames, metadata: {} }, prog);
    // rows as a run writes them: the slots due this step (each probe by its own schedule, e.g. the
    // distribution probe every 25th step), per-step ones only
    const layouts = new Map<string, { layers: Int8Array; probes: Int8Array; metrics: Int16Array }>();
    const layoutOf = (slots: readonly number[]) => {
      const key = slots.join(',');
      let l = layouts.get(key);
      if (!l) {
        l = {
          layers: Int8Array.from(slots, (i) => host.slots[i].layer),
          probes: Int8Array.from(slots, (i) => writer.probeId(host.slots[i].probe)),
          metrics: Int16Array.from(slots, (i) => writer.metricId(host.slots[i].metric)),
        };
        layouts.set(key, l);
      }
      return l;
    };
    // each mode's model takes the input form `probe run` gives a model of its settings (the sparse
    // input layer on MNIST, wasm, fused activations; dense otherwise), built with its PROBE_FUSED
    const models = new Map(MODES.map((m) => {
      if (m.fused) delete process.env.PROBE_FUSED; else process.env.PROBE_FUSED = '0';
      return [m.name, new Mlp({ sizes, activations: acts }, initParams({ sizes, activations: acts }, 1), { lr: 0.01, momentum: 0.5 }, m.engine, [], builder.inputProfile())];
    }));
    delete process.env.PROBE_FUSED;
    let cursor = 0, writeMs = 0, lastCkpt = performance.now();
    const steps = (m: Mode, n: number): number => {
      const model = models.get(m.name)!;
      if (m.fused) delete process.env.PROBE_FUSED; else process.env.PROBE_FUSED = '0';
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const start = (cursor++ % 1875) * 32;
        const batch = builder.build(order, start, 32, model.inputForm);
        const probed = m.probes && host.due(cursor, m.every ?? 1);
        const v = model.step(batch, probed ? host : null, { step: cursor, epoch: 1, batchSize: 32 });
        disposeBatch(batch);
        if (probed) {
          const tw = performance.now();
          const perStep = host.activeSlots.filter((i) => i < host.stepSlots);
          writer.appendMany(cursor, 1, layoutOf(perStep), v, 1);
          if (tw - lastCkpt > 10_000) { writer.checkpoint(prog); lastCkpt = performance.now(); }
          writeMs += performance.now() - tw;
        }
      }
      return (performance.now() - t0) / n;
    };
    // the cpu backend has no fused kernels: its unfused step is the same step
    const modes = MODES.filter((m) => !(slow && m.name === 'tape' && quick) && (m.fused || backend !== 'cpu'));
    for (const m of modes) steps(m, warmup);
    const times: Record<Mode['name'], number[]> = { off: [], on: [], run: [], tape: [], offUnfused: [], onUnfused: [] };
    let onMs = 0;
    writeMs = 0;
    for (let r = 0; r < rounds; r++) {
      for (const m of modes) {
        const n = m.name === 'tape' ? Math.max(10, Math.floor(block / 4)) : block;
        const ms = steps(m, n);
        times[m.name].push(ms);
        if (m.name === 'on') onMs += ms * n;
      }
    }
    // tfjs-node: how many TensorFlow ops a step issues, and what one costs to dispatch
    const dispatch = backend === 'node' ? nodeDispatch(() => steps(MODES[1], 1), () => steps(MODES[0], 1)) : undefined;
    writer.close({ ...prog, status: RunStatus.complete });
    models.forEach((m) => m.dispose());
    rmSync(dir, { recursive: true, force: true });
    delete process.env.PROBE_FUSED;
    const opt = (xs: number[]) => (xs.length ? median(xs) : NaN);
    // probes' overhead paired by round: each round times off, then on, back to back, so a drift
    // of the machine's speed between rounds cancels in the round's ratio
    const paired = median(times.on.map((t, r) => t / times.off[r])) - 1;
    const runPaired = median(times.run.map((t, r) => t / times.off[r])) - 1;
    const res = { backend, combo, input: models.get('on')!.inputForm, paired, runPaired, run: median(times.run), off: median(times.off), on: median(times.on), tape: opt(times.tape), offUnfused: opt(times.offUnfused), onUnfused: opt(times.onUnfused), writeShare: writeMs / onMs, ...(dispatch ? { dispatch } : {}) };
    log(`  ${backend} ${combo} (${res.input} input): off ${res.off.toFixed(2)} ms · on ${res.on.toFixed(2)} ms · run's schedules ${res.run.toFixed(2)} ms · tape ${res.tape.toFixed(2)} ms · unfused off ${res.offUnfused.toFixed(2)} ms, on ${res.onUnfused.toFixed(2)} ms · writing ${(100 * res.writeShare).toFixed(2)}%`);
    out.push(res);
  }
  return out;
}

interface TorchResult { env: string; python: string; torch: string; blas: string; threads: number; ms: Record<string, number> }

function torchColumns(): { results: TorchResult[]; skipped: string[] } {
  const results: TorchResult[] = [], skipped: string[] = [];
  if (flag('no-torch')) return { results, skipped: ['--no-torch'] };
  log('preparing PyTorch references (bench/setup-python.sh)…');
  const setup = spawnSync('bash', [join(ROOT, 'bench', 'setup-python.sh')], { encoding: 'utf8' });
  const lines = (setup.stdout + setup.stderr).split('\n');
  for (const line of lines) {
    const ready = /setup-python: (\w+): READY python=(\S+)/.exec(line);
    const skip = /setup-python: (\w+): SKIP (.*)/.exec(line);
    if (skip) skipped.push(`${skip[1]}: ${skip[2]}`);
    if (!ready) continue;
    for (const threads of [0, 1]) {
      const r = spawnSync(ready[2], [join(ROOT, 'bench', 'torch_step.py'), '--combos', combos.join(','), '--steps', quick ? '100' : '300', '--warmup', '30', '--repeats', quick ? '3' : '5', '--threads', String(threads)], { encoding: 'utf8' });
      if (r.status !== 0) { skipped.push(`${ready[1]}: torch_step.py failed: ${r.stderr.trim().split('\n').pop()}`); continue; }
      const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as { torch: string; blas: string; threads: number; results: { combo: string; ms_per_step: number }[] };
      const env = `${ready[1]}${threads ? ' 1 thread' : ''}`;
      results.push({ env, python: ready[2], torch: j.torch, blas: j.blas, threads: j.threads, ms: Object.fromEntries(j.results.map((x) => [x.combo, x.ms_per_step])) });
      log(`  torch ${j.torch} (${env}, ${j.blas}, ${j.threads} threads): ${j.results.map((x) => `${x.combo} ${x.ms_per_step.toFixed(2)} ms`).join(' · ')}`);
    }
  }
  return { results, skipped };
}

/** Runs `probe run` as a child and samples its resident memory. */
async function longRun(epochs: number, extra: string[] = []): Promise<{ seconds: number; steps: number; rssMB: number[]; cores: number; json: { seconds: number; steps: number; probeOverhead: number; writeOverhead: number; epochs: { seconds: number; testAcc: number }[] } }> {
  const out = mkdtempSync(join(tmpdir(), 'probe-bench-run-'));
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'probe.js'), 'run', 'relu-sigmoid-relu', '--epochs', String(epochs), '--backend', 'wasm', '--quiet', '--json', '--out', out, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  const rss: number[] = [];
  // CPU time of all its threads (utime + stime, clock ticks of 10 ms) against wall time: how many
  // cores one run keeps busy (JavaScript, plus the garbage collector's and compiler's threads)
  const cpu: { t: number; ticks: number }[] = [];
  const timer = setInterval(() => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) rss.push(Number(m[1]) / 1024);
      const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
      cpu.push({ t: performance.now(), ticks: Number(f[11]) + Number(f[12]) });
    } catch { /* exited */ }
  }, 500);
  const t0 = performance.now();
  await new Promise((r) => child.on('exit', r));
  clearInterval(timer);
  rmSync(out, { recursive: true, force: true });
  const json = JSON.parse(stdout);
  // from a fifth of the way in (past start-up) to the last sample
  const a = cpu[Math.floor(cpu.length / 5)], b = cpu[cpu.length - 1];
  const cores = a && b && b.t > a.t ? ((b.ticks - a.ticks) * 10) / (b.t - a.t) : NaN;
  return { seconds: (performance.now() - t0) / 1000, steps: json.steps, rssMB: rss, cores, json };
}

async function main(): Promise<void> {
  const started = new Date();
  log(`probe bench · ${cpus().length} × ${cpus()[0]?.model} · ${(totalmem() / 2 ** 30).toFixed(0)} GiB · node ${process.versions.node}`);
  const steps: StepResult[] = [];
  const skippedBackends: string[] = [];
  for (const b of backends) {
    log(`measuring ${b}…`);
    const r = await measureSteps(b);
    if (typeof r === 'string') { skippedBackends.push(`${b}: ${r}`); log(`  skipped: ${r}`); } else steps.push(...r);
  }
  const torch = torchColumns();
  // the target's reference: PyTorch 1.13 Debian + OpenBLAS at one thread
  const torchRef = torch.results.find((t) => t.env === 'debian 1 thread') ?? torch.results.find((t) => t.env === 'debian') ?? torch.results[0];
  let products: ProductFigures | null = null, processes: ProcessFigures | null = null;
  if (backends.includes('wasm')) {
    log('products: wasm peak, own kernels (relaxed / plain SIMD) and XNNPACK, interleaved…');
    products = await measureProducts(quick ? 5 : 15);
    if (torchRef && !quick) {
      log('whole processes: probe run (1,000 steps + evaluation of 1,000) and PyTorch the same, alternated…');
      processes = await measureProcesses(ROOT, torchRef.python, 3);
    }
  }
  const rows = steps.map((s) => {
    const ref = torchRef;
    return { ...s, ratio: ref ? s.on / ref.ms[s.combo] : NaN, overhead: s.paired };
  });
  let memory: Awaited<ReturnType<typeof longRun>> | null = null;
  let pair: { msPerStep: number; soloMsPerStep: number; soloCores: number; fixedS: number; peak: PeakPair } | null = null;
  if (!quick) {
    log('full run: probe run relu-sigmoid-relu, 10 epochs, all probes, wasm (RSS sampled every 0.5 s)…');
    memory = await longRun(10);
    log('one run alone, then two concurrent runs (1 epoch each, as two sweep workers), and the peak loop alone and ×2…');
    const perStep = (b: Awaited<ReturnType<typeof longRun>>) => (b.json.seconds * 1000) / b.json.steps;
    const soloRun = await longRun(1), solo = perStep(soloRun);
    const both = await Promise.all([longRun(1), longRun(1)]);
    // what a run costs besides its epochs: process start, data, the evaluation before training, exit
    const fixedS = median(both.map((b) => b.seconds - b.json.seconds));
    pair = { msPerStep: median(both.map(perStep)), soloMsPerStep: solo, soloCores: soloRun.cores, fixedS, peak: await measurePeakPair() };
  }
  // report
  const p = (s: string) => process.stdout.write(s + '\n');
  p(`\n### Benchmark ${started.toISOString().slice(0, 10)} · ${cpus().length} × ${cpus()[0]?.model} · node ${process.versions.node}\n`);
  p('ms per training step, batch 32, MLP 784-500-256-10 (median of rounds; lower is better; "unfused": the activations and their derivatives as separate ops, PROBE_FUSED=0, in the same rounds; input layer: the form `probe run` takes — sparse, over the batch\'s nonzeros, on MNIST with wasm and fused activations, else dense — the unfused columns take the dense one)\n');
  const torchHeads = torch.results.map((t) => `torch ${t.torch} ${t.env.startsWith('debian') ? 'Debian' : 'pip'} ${t.blas}, ${t.env.endsWith('1 thread') ? '--threads 1' : `default (${t.threads} thr)`}`);
  p(`| backend | combination | input layer | probes off | all probes on | overhead (median of per-round on ÷ off) | the run's default schedules | overhead (per-round ÷ off) | off, unfused | on, unfused | tfjs autodiff |${torchHeads.map((h) => ` ${h} |`).join('')} on ÷ torch (Debian, 1 thread) |`);
  p(`|---|---|---|---|---|---|---|---|---|---|---|${torchHeads.map(() => '---|').join('')}---|`);
  const cell = (x: number) => (Number.isNaN(x) ? '—' : x.toFixed(2));
  for (const r of rows) {
    p(`| ${r.backend} | ${r.combo} | ${r.input} | ${r.off.toFixed(2)} | ${r.on.toFixed(2)} | ${(100 * r.overhead).toFixed(1)}% | ${r.run.toFixed(2)} | ${(100 * r.runPaired).toFixed(1)}% | ${cell(r.offUnfused)} | ${cell(r.onUnfused)} | ${cell(r.tape)} |${torch.results.map((t) => ` ${cell(t.ms[r.combo] ?? NaN)} |`).join('')} ${Number.isNaN(r.ratio) ? '—' : `${r.ratio.toFixed(2)}×`} |`);
  }
  for (const s of [...skippedBackends, ...torch.skipped]) p(`\nskipped ${s}`);
  const nodeRows = rows.filter((r) => r.dispatch);
  if (nodeRows.length) {
    p(`\ntfjs-node, where the step goes: every TensorFlow op is one eager call from JavaScript through the binding (a trivial one, Add of two 1-element tensors, costs ${nodeRows[0].dispatch!.usPerOp.toFixed(1)} µs here); the step's eight products as bare TensorFlow MatMul ops (one intra-op thread, as probe sets it) take ${nodeRows[0].dispatch!.productsMs.toFixed(2)} ms:\n`);
    p('| combination | step, probes on | TF ops | their dispatch alone | products alone | rest (tfjs engine, elementwise work, readback) | step, probes off | TF ops | dispatch | rest |');
    p('|---|---|---|---|---|---|---|---|---|---|');
    for (const r of nodeRows) {
      const d = r.dispatch!, on = (d.opsOn * d.usPerOp) / 1000, off = (d.opsOff * d.usPerOp) / 1000;
      p(`| ${r.combo} | ${r.on.toFixed(2)} ms | ${d.opsOn.toFixed(0)} | ${on.toFixed(2)} ms | ${d.productsMs.toFixed(2)} ms | ${(r.on - on - d.productsMs).toFixed(2)} ms | ${r.off.toFixed(2)} ms | ${d.opsOff.toFixed(0)} | ${off.toFixed(2)} ms | ${(r.off - off - d.productsMs).toFixed(2)} ms |`);
    }
  }
  if (products) {
    const { peak, peakSimd, rows: pr } = products;
    p(`\nmatrix products on wasm, batch 32 (GFLOP/s, best of interleaved rounds; the step runs ${kernelSet()}). Peak of one core: ${peak.toFixed(1)} GFLOP/s (register-only f32x4.relaxed_madd loop), ${peakSimd.toFixed(1)} with f32x4.mul + add\n`);
    p('| product | shape | MFLOP | own, relaxed SIMD | own, plain SIMD | tfjs XNNPACK matMul | own relaxed ÷ peak |');
    p('|---|---|---|---|---|---|---|');
    for (const r of pr) p(`| ${r.product} | ${r.product.startsWith('backward') ? `${r.K}×${r.M}·${r.M}×${r.N}` : r.product.startsWith('weight') ? `${r.M}×${r.N}·${r.N}×${r.K}` : `${r.M}×${r.K}·${r.K}×${r.N}`} | ${r.mflop.toFixed(2)} | ${r.relaxed.toFixed(1)} | ${r.simd.toFixed(1)} | ${r.xnnpack.toFixed(1)}${r.product.startsWith('weight') ? ' (+ separate SGD)' : ''} | ${(100 * r.relaxed / peak).toFixed(0)}% |`);
    const ms = (k: 'relaxed' | 'simd' | 'xnnpack') => pr.reduce((s, r) => s + r.mflop / r[k], 0);
    p(`\nthe step's products (75 MFLOP) take ${ms('relaxed').toFixed(2)} ms with the own relaxed-SIMD kernels, ${ms('simd').toFixed(2)} ms with plain SIMD, ${ms('xnnpack').toFixed(2)} ms with XNNPACK; at the peak they would take ${(75.2 / peak).toFixed(2)} ms`);
  }
  if (processes && processes.probe.length && processes.torch.length) {
    const a = median(processes.probe), b = median(processes.torch);
    p(`\nwhole process, 1,000 steps of batch 32 + evaluation of 1,000 (relu-sigmoid-relu, all probes on probe run's default schedules, wasm), wall time from spawn to exit, alternated ×${processes.probe.length}: probe run ${a.toFixed(2)} s · PyTorch ${processes.torchVersion} Debian OpenBLAS 1 thread ${b.toFixed(2)} s (bench/torch_run.py) · ratio ${(a / b).toFixed(2)}×`);
  }
  const wasm = rows.filter((r) => r.backend === 'wasm');
  if (wasm.length) p(`\ntrace writing (rows appended + checkpoints): ${(100 * median(wasm.map((r) => r.writeShare))).toFixed(2)}% of the probed step time (wasm, median over combinations)`);
  if (memory) {
    // windows of the run, away from start-up and exit: the first tenth after the first tenth, the last tenth before the end
    const r = memory.rssMB, n = r.length;
    const win = (a: number, b: number) => median(r.slice(Math.floor(n * a), Math.max(Math.floor(n * a) + 1, Math.floor(n * b))));
    const early = win(0.1, 0.2), late = win(0.85, 0.95);
    p(`\nfull run (10 epochs × 1875 steps, all probes on the default schedules, wasm): ${memory.seconds.toFixed(0)} s wall, ${((memory.json.seconds * 1000) / memory.json.steps).toFixed(2)} ms/step incl. evaluation, the probes' own compute ${(100 * memory.json.probeOverhead).toFixed(1)}% and writing ${(100 * memory.json.writeOverhead).toFixed(2)}% of run time, final test acc ${(100 * memory.json.epochs.at(-1)!.testAcc).toFixed(2)}%`);
    p(`RSS (median of samples every 0.5 s): ${early.toFixed(0)} MB at 10–20% of the run → ${late.toFixed(0)} MB at 85–95% (growth ${(late - early).toFixed(0)} MB; peak ${Math.max(...r).toFixed(0)} MB)`);
  }
  if (pair && memory) {
    const runs = 64 * 9, epochs = 10, stepsPerEpoch = 1875;
    const perRunS = (pair.msPerStep * stepsPerEpoch * epochs) / 1000;
    const hours = (runs * perRunS) / 2 / 3600, hoursFixed = (runs * (perRunS + pair.fixedS)) / 2 / 3600;
    p(`two concurrent runs: ${pair.msPerStep.toFixed(2)} ms/step each (incl. evaluation) against ${pair.soloMsPerStep.toFixed(2)} for the same 1-epoch run alone: ${((2 * pair.soloMsPerStep) / pair.msPerStep).toFixed(2)}× the single-run throughput → full grid 64 × 9 seeds × 10 epochs on 2 workers ≈ ${hours.toFixed(1)} h (576 runs × ${perRunS.toFixed(0)} s ÷ 2; measured on relu-sigmoid-relu), ${hoursFixed.toFixed(1)} h if every run also paid what a fresh process does besides its epochs (${pair.fixedS.toFixed(1)} s: start-up, data, the evaluation before training; a sweep worker starts once and loads the data once)`);
    const ratio = (r: { alone: number; together: readonly number[] }) => r.together.reduce((a, b) => a + b, 0) / r.alone;
    const { peak, reads } = pair.peak;
    p(`a run alone keeps ${pair.soloCores.toFixed(2)} cores busy (its CPU time over wall time past start-up: JavaScript plus the garbage collector's and compiler's threads), so two on 2 cores can keep at most ${(2 / Math.max(1, pair.soloCores)).toFixed(2)}× its throughput`);
    p(`what two workers share, same run (one worker thread, then two at once): the register-only peak loop ${peak.alone.toFixed(1)} → ${peak.together.map((g) => g.toFixed(1)).join(' + ')} GFLOP/s (${ratio(peak).toFixed(2)}×, the cores themselves); a SIMD read pass over ${reads.map((r) => `${r.mb} MB ${r.alone.toFixed(1)} → ${r.together.map((g) => g.toFixed(1)).join(' + ')} GB/s (${ratio(r).toFixed(2)}×)`).join(', ')}`);
  }
  // the attached-probe path (bench/attach.ts), a section of its own
  if (!flag('no-attach')) for (const line of await (await import('./attach.js')).attachSection({ quick, log })) p(line);
  // the PyTorch recorder (bench/torch-attach.ts)
  if (!flag('no-torch-attach') && !flag('no-torch')) for (const line of await (await import('./torch-attach.js')).torchAttachSection({ quick, log })) p(line);
  if (opt('json', '')) writeFileSync(opt('json', ''), JSON.stringify({ started, steps: rows, torch, skippedBackends, memory, pair, products, processes }, null, 2));
}

if (flag('report')) await import('./report.js');
else if (flag('attach')) for (const line of await (await import('./attach.js')).attachSection({ quick, log })) process.stdout.write(line + '\n');
else if (flag('torch-attach')) for (const line of await (await import('./torch-attach.js')).torchAttachSection({ quick, log })) process.stdout.write(line + '\n');
else await main();
