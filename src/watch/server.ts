/**
 * `probe watch`: a local HTTP server for the live view of a folder of traces.
 *
 *   scan     every `pollMs` the folder is stat'ed (folder.ts); a changed trace is re-read, for at
 *            most SCAN_BUDGET_MS at a time: with more to read the next scan follows at once, after
 *            the requests that waited (a study of 576 traces is read in slices, never in one block)
 *   push     one `state` event per change to every open page (server-sent events): the runs'
 *            progress, and the version of the page; a page whose version is behind fetches /page
 *   page     built once per version, on the first request for it (page.ts), whatever the tabs;
 *            a new version waits 4× the last build's time, so that for a large sweep the view
 *            spends at most about a fifth of a core building pages, never the training's share
 *
 * What it serves is a fixed list of routes: the page, its script, the three vega libraries from
 * node_modules, the event stream, and a trace of the folder by its file name (only a name the scan
 * listed, never a path). It binds to 127.0.0.1 unless told otherwise, refuses a non-loopback
 * address without `allowRemote`, and, when local, answers only requests addressed to a local name
 * (a web page elsewhere cannot reach it by DNS rebinding).
 */
import { closeSync, createReadStream, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { pipeline } from 'node:stream';
import { ProbeError, ErrorCode } from '../errors.js';
import { msg } from '../messages.js';
import { openConfined } from '../fs-util.js';
import { libFile } from '../page/shell.js';
import { queuedRows, traceOf, WatchedFolder, type Snapshot } from './folder.js';
import { CSP, LIBS, SCRIPTS, watchPage } from './page.js';

export interface WatchOptions {
  /** default 127.0.0.1 */
  readonly host?: string;
  /** default 0: any free port; a string is checked as the --port flag */
  readonly port?: number | string;
  /** allow a host that is not a loopback address */
  readonly allowRemote?: boolean;
  /** how often the folder is checked; default 1000 ms */
  readonly pollMs?: number;
  /** the folder may not exist yet (the work beside will create it) */
  readonly pending?: boolean;
  /** bounds on what clients may hold; default {@link WATCH_LIMITS} */
  readonly limits?: Partial<WatchLimits>;
}

/**
 * What clients may hold, so that neither a flood of connections nor a few that never finish
 * their request make the view unreachable or exhaust the process's file descriptors (a trace
 * read needs one): connections beyond `connections` are closed at once, event streams beyond
 * `streams` get 503, and a request whose headers have not arrived in `headersTimeoutMs` is dropped.
 */
export interface WatchLimits {
  readonly connections: number;
  readonly streams: number;
  readonly headersTimeoutMs: number;
}

export const WATCH_LIMITS: WatchLimits = { connections: 256, streams: 64, headersTimeoutMs: 10_000 };

export interface WatchServer {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** open event streams (pages) */
  clients(): number;
  /** runs a sweep beside the view will compute: listed as queued until their traces appear */
  plan(runs: readonly { readonly run: string; readonly file: string }[]): void;
  close(): Promise<void>;
}

/** 127.0.0.0/8, ::1, localhost: addresses no other machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  return mapped !== null && mapped[1].startsWith('127.');
}

export function checkPort(raw: unknown, flag = '--port'): number {
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ProbeError(ErrorCode.usage, msg.watchPort(raw, flag));
  return n;
}

function checkFolder(dir: string): void {
  let st;
  try { st = statSync(dir); } catch { throw new ProbeError(ErrorCode.usage, msg.watchFolder(dir, 'no such folder')); }
  if (!st.isDirectory()) throw new ProbeError(ErrorCode.usage, msg.watchFolder(dir, 'it is a file, not a folder'));
}

/** The Host header's name, without its port. */
function hostName(header: string | undefined): string {
  if (!header) return '';
  const m = /^(\[[^\]]*\]|[^:]*)(:\d+)?$/.exec(header.trim());
  return m ? m[1] : '';
}

/** Milliseconds a scan may spend reading traces before it lets the server answer. */
const SCAN_BUDGET_MS = 150;

/**
 * A download's Content-Disposition (RFC 6266): an ASCII `filename` for old clients and the exact
 * name as UTF-8 in `filename*` (RFC 8187); a header value must be ASCII, or Node refuses it.
 */
export function attachment(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  const exact = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${exact}`;
}

const HEADERS = {
  'Content-Security-Policy': CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Resource-Policy': 'same-origin',
} as const;

export async function startWatch(dir: string, opts: WatchOptions = {}): Promise<WatchServer> {
  const host = opts.host ?? '127.0.0.1';
  const port = checkPort(opts.port ?? 0);
  if (!opts.allowRemote && !isLoopback(host)) throw new ProbeError(ErrorCode.usage, msg.watchRemote(host));
  if (!opts.pending) checkFolder(dir);
  const limits = { ...WATCH_LIMITS, ...opts.limits };
  const shownDir = dir;
  const folder = new WatchedFolder(resolve(dir));
  let snap: Snapshot = folder.scan(Date.now(), SCAN_BUDGET_MS);
  let version = 1;
  let page: { version: number; html: string } | null = null;
  const streams = new Set<ServerResponse>();

  let planned: readonly { readonly run: string; readonly file: string }[] = [];
  const rows = () => [...snap.runs, ...queuedRows(snap, planned)];
  const stateEvent = () => `event: state\ndata: ${JSON.stringify({ version, at: new Date().toISOString(), runs: rows(), ignored: snap.ignored, reading: snap.pending })}\n\n`;
  let lastState = '';
  const push = (force = false) => {
    const ev = stateEvent();
    // the time stamp aside, unchanged state is not sent again
    const body = ev.replace(/"at":"[^"]*",/, '');
    if (!force && body === lastState) return;
    lastState = body;
    for (const res of streams) send(res, ev);
  };
  const send = (res: ServerResponse, text: string) => {
    if (res.destroyed || res.writableEnded) { streams.delete(res); return; }
    res.write(text);
  };

  let dirty = false, lastBuildMs = 0, builtAt = 0;
  let poll: NodeJS.Timeout | null = null, stopped = false;
  const tick = () => {
    try {
      const next = folder.scan(Date.now(), SCAN_BUDGET_MS);
      if (next.key !== snap.key) dirty = true;
      snap = next;
      if (dirty && Date.now() >= builtAt + 4 * lastBuildMs) { version++; dirty = false; }
      push();
    } catch {
      // a folder that vanished or an unreadable moment: the next poll tries again
    }
    // traces left to read: go on at once, after whatever requests waited meanwhile
    if (!stopped) poll = setTimeout(tick, snap.pending > 0 ? 0 : opts.pollMs ?? 1000);
  };
  poll = setTimeout(tick, snap.pending > 0 ? 0 : opts.pollMs ?? 1000);
  const stopPolling = () => { stopped = true; if (poll) clearTimeout(poll); };
  // comments keep idle streams open through proxies and let a dead socket surface
  const heartbeat = setInterval(() => { for (const res of streams) send(res, ': ping\n\n'); }, 15_000);

  const libs = new Map<string, string>(Object.entries(LIBS).map(([route, [pkg, file]]) => [route, readFileSync(libFile(pkg, file), 'utf8')]));

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    res.on('error', () => { streams.delete(res); });
    const reply = (status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}) => {
      res.writeHead(status, { ...HEADERS, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', ...extra });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (!opts.allowRemote && !isLoopback(hostName(req.headers.host))) return reply(403, 'text/plain', 'probe watch answers only requests to localhost\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'text/plain', 'only GET\n', { Allow: 'GET, HEAD' });
    let path: string;
    try { path = new URL(req.url ?? '/', 'http://localhost').pathname; } catch { return reply(400, 'text/plain', 'bad request\n'); }
    if (path === '/' || path === '/page') {
      if (!page || page.version !== version) {
        const t0 = performance.now();
        page = { version, html: watchPage(snap, shownDir, version) };
        lastBuildMs = performance.now() - t0;
        builtAt = Date.now();
      }
      return reply(200, 'text/html; charset=utf-8', page.html);
    }
    if (path === '/live.js' || path === '/charts.js') return reply(200, 'text/javascript; charset=utf-8', SCRIPTS[path]);
    const lib = libs.get(path);
    if (lib !== undefined) return reply(200, 'text/javascript; charset=utf-8', lib, { 'Cache-Control': 'max-age=3600' });
    if (path === '/state.json') return reply(200, 'application/json', JSON.stringify({ version, runs: rows(), ignored: snap.ignored, reading: snap.pending }));
    if (path === '/events') {
      if (streams.size >= limits.streams) return reply(503, 'text/plain', `too many open live views (${limits.streams}): close some tabs\n`, { 'Retry-After': '10' });
      res.writeHead(200, { ...HEADERS, 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
      res.write('retry: 2000\n\n');
      streams.add(res);
      req.on('close', () => streams.delete(res));
      send(res, stateEvent());
      return;
    }
    if (path.startsWith('/trace/')) {
      let name: string;
      try { name = decodeURIComponent(path.slice('/trace/'.length)); } catch { return reply(400, 'text/plain', 'bad name\n'); }
      // a file name of the scan, never a path: '..', separators and links out are all refused
      const file = /[/\\\0]/.test(name) ? null : traceOf(folder.root, snap, name);
      if (!file || folder.root === null) return reply(404, 'text/plain', 'no such trace in the watched folder\n');
      // what is served is what was opened, checked after opening: a name swapped for a link
      // between the check above and the open is refused (openConfined)
      let opened;
      try { opened = openConfined(folder.root, file); } catch { return reply(404, 'text/plain', 'no such trace in the watched folder\n'); }
      res.writeHead(200, { ...HEADERS, 'Content-Type': 'application/vnd.apache.arrow.file', 'Content-Length': opened.size, 'Content-Disposition': attachment(name), 'Cache-Control': 'no-store' });
      if (req.method === 'HEAD' || opened.size === 0) { closeSync(opened.fd); return void res.end(); }
      // a stream of the bytes there now; the writer only appends and rewrites its footer
      return void pipeline(createReadStream('', { fd: opened.fd, start: 0, end: opened.size - 1 }), res, () => {});
    }
    return reply(404, 'text/plain', 'not found\n');
  };

  const server = createServer({
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: 2 * limits.headersTimeoutMs,
    // how often those timeouts are checked (Node's default, 30 s, kept dead connections ~90 s)
    connectionsCheckingInterval: Math.max(100, Math.min(1000, limits.headersTimeoutMs / 4)),
  }, (req, res) => {
    try { handle(req, res); } catch (e) {
      if (!res.headersSent) { res.writeHead(500, { 'Content-Type': 'text/plain' }); res.end(`${(e as Error).message}\n`); } else res.destroy();
    }
  });
  server.maxConnections = limits.connections;
  // Node's headersTimeout runs from a request's first byte: a connection that sends nothing is
  // held until it closes. Such a one is dropped after the same time.
  const silent = new WeakMap<object, NodeJS.Timeout>();
  server.on('connection', (socket) => {
    const timer = setTimeout(() => socket.destroy(), limits.headersTimeoutMs);
    timer.unref();
    silent.set(socket, timer);
    socket.once('close', () => clearTimeout(timer));
  });
  server.on('request', (req: IncomingMessage) => clearTimeout(silent.get(req.socket)));
  await new Promise<void>((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      stopPolling(); clearInterval(heartbeat);
      fail(new ProbeError(ErrorCode.usage, msg.watchListen(host, port, e.code ?? String(e)), { cause: e }));
    });
    server.listen(port, host, () => ok());
  });
  const addr = server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  const urlHost = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  let closed: Promise<void> | null = null;
  return {
    url: `http://${urlHost}:${bound}/`,
    host,
    port: bound,
    clients: () => streams.size,
    plan: (runs) => { planned = runs; push(); },
    close: () => (closed ??= new Promise<void>((ok) => {
      stopPolling(); clearInterval(heartbeat);
      for (const res of streams) res.end();
      streams.clear();
      server.close(() => ok());
      server.closeAllConnections();
    })),
  };
}
