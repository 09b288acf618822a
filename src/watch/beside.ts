/**
 * `probe run --watch`, `probe sweep --watch`: the live view served beside the work, from a worker
 * thread (thread.ts). It starts once the work knows its folder, and stays open after the work until
 * Ctrl-C, so the finished page can still be read.
 */
import { Worker } from 'node:worker_threads';
import { ProbeError, ErrorCode } from '../errors.js';
import { msg } from '../messages.js';
import { checkPort, isLoopback, type WatchOptions } from './server.js';

export interface BesideServer {
  readonly url: string;
  /** the runs the work will compute, listed as queued until their traces appear */
  plan(runs: readonly { readonly run: string; readonly file: string }[]): void;
  close(): Promise<void>;
}

/** Checks the options before any work starts: a bad --watch-port must not cost a run. */
export function checkWatchOptions(o: { host?: string; port?: unknown; allowRemote?: boolean }): WatchOptions {
  const host = o.host ?? '127.0.0.1';
  if (!o.allowRemote && !isLoopback(host)) throw new ProbeError(ErrorCode.usage, msg.watchRemote(host, '--watch-host'));
  return { host, port: checkPort(o.port ?? 0, '--watch-port'), allowRemote: o.allowRemote === true };
}

export function watchInThread(dir: string, opts: WatchOptions): Promise<BesideServer> {
  const worker = new Worker(new URL('./thread.js', import.meta.url), { workerData: { dir, opts: { ...opts, pending: true } } });
  return new Promise((ok, fail) => {
    worker.once('error', fail);
    worker.once('exit', (code) => fail(new Error(`the live view's thread ended (exit code ${code})`)));
    worker.once('message', (m: { url?: string; error?: string; code?: ErrorCode | null }) => {
      if (m.error !== undefined) return fail(m.code ? new ProbeError(m.code, m.error) : new Error(m.error));
      let closed: Promise<void> | null = null;
      ok({
        url: m.url as string,
        plan: (runs) => worker.postMessage({ plan: runs.map((r) => ({ run: r.run, file: r.file })) }),
        close: () => (closed ??= new Promise<void>((done) => {
          worker.once('exit', () => done());
          worker.postMessage('close');
          // a server that does not close in time is not worth a hung command
          setTimeout(() => void worker.terminate(), 3000).unref();
        })),
      });
    });
  });
}

/** Resolves at the next Ctrl-C or SIGTERM (and handles it: no exit). */
export function untilInterrupted(): Promise<void> {
  return new Promise((done) => {
    const stop = () => { process.off('SIGINT', stop); process.off('SIGTERM', stop); done(); };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
