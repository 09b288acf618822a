/**
 * A sweep worker: a child process that runs one planned run (job.ts) at a time on request, keeping the
 * dataset loaded between runs. It exits when told to stop or when its parent goes away (a killed
 * sweep leaves no orphan training), closing the run in flight as interrupted.
 */
import { runJob, type FromWorker, type RunJob, type ToWorker } from './job.js';

let abort: AbortController | null = null;

/**
 * The parent is gone (killed, even with kill -9): the run in flight stops after its step and
 * closes as interrupted, freeing its lock, and the worker exits. Noticed by 'disconnect' or by a
 * message that cannot be sent (EPIPE), whichever comes first: an unhandled EPIPE killed the
 * worker mid-run, leaving its trace 'running' and its lock held.
 */
function parentGone(): void {
  if (abort?.signal.aborted === false) abort.abort();
  orphaned = true;
  void queue.then(() => process.exit(0));
}
let orphaned = false;

function send(m: FromWorker): void {
  if (orphaned || !process.connected || !process.send) return;
  try {
    process.send(m, undefined, {}, (err) => { if (err) parentGone(); });
  } catch {
    parentGone();
  }
}

async function run(m: RunJob): Promise<void> {
  abort = new AbortController();
  try {
    await runJob(m, send, abort.signal);
  } finally {
    abort = null;
  }
}

let queue: Promise<void> = Promise.resolve();
process.on('message', (m: ToWorker) => {
  if (orphaned) return;
  if (m.type === 'stop') {
    abort?.abort();
    queue.then(() => process.exit(0));
    return;
  }
  queue = queue.then(() => run(m));
});
process.on('disconnect', parentGone);
// a failed send without a callback is an 'error' event on process: the channel is gone
process.on('error', parentGone);
// Ctrl-C reaches the whole process group, and so does a scheduler's SIGTERM (Slurm's scancel or
// time limit signals every process of the job): the parent decides, stopping its workers after
// their step, so the run is reported interrupted, not failed because its worker was killed.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
send({ type: 'ready' });
