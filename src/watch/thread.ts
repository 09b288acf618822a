/** The live view's server in a worker thread, so a run training on the main thread never stalls it (and it never slows a step). */
import { parentPort, workerData } from 'node:worker_threads';
import { isProbeError } from '../errors.js';
import { startWatch, type WatchOptions } from './server.js';

const { dir, opts } = workerData as { dir: string; opts: WatchOptions };
const port = parentPort!;
try {
  const server = await startWatch(dir, opts);
  port.on('message', (m: 'close' | { plan: { run: string; file: string }[] }) => {
    if (m === 'close') void server.close().then(() => port.close());
    else server.plan(m.plan);
  });
  port.postMessage({ url: server.url });
} catch (e) {
  port.postMessage({ error: (e as Error).message, code: isProbeError(e) ? e.code : null });
  port.close();
}
