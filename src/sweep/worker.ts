/**
 * A sweep worker: a child process that runs one planned run (job.ts) at a time on request, keeping the
 * dataset loaded between runs. It exits when told to stop or when its parent goes away (a killed
 * sweep leaves no orphan training), closing the run in flight as interrupted.
 */
import { runJob, type FromWorker, type RunJob, type ToWorker } from './job.js';

const send = (m: FromWorker) => process.send?.(m);
let abort: AbortController | null = null;

async function run(m: RunJob): Promise<void> {
  abort = new AbortController();
  try {
    await runJob(m, send, abort.signal);
  } finally {
    abort = null;
  }
}

let queue = Promise.resolve();
process.on('message', (m: ToWorker) => {
  if (m.type === 'stop') {
    abort?.abort();
    queue.then(() => process.exit(0));
    return;
  }
  queue = queue.then(() => run(m));
});
process.on('disconnect', () => {
  abort?.abort();
  queue.then(() => process.exit(0));
});
// Ctrl-C reaches the whole process group, and so does a scheduler's SIGTERM (Slurm's scancel or
// time limit signals every process of the job): the parent decides, stopping its workers after
// their step, so the run is reported interrupted, not failed because its worker was killed.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
send({ type: 'ready' });
