/**
 * The live page: the report's page (report/html.ts, one page code) with the libraries linked from
 * the server instead of inlined, a panel of runs in flight at the top, and the live script
 * (client.ts) that keeps both current.
 */
import { pageHtml, type PageShell } from '../report/html.js';
import { esc } from '../page/shell.js';
import { reportModel } from '../report/index.js';
import { CHARTS_JS } from '../page/embed.js';
import { LIVE_JS } from './client.js';
import type { Snapshot } from './folder.js';

/** The dashboard's script (report/embed.ts) and the live part (client.ts), by URL path. */
export const SCRIPTS = { '/charts.js': CHARTS_JS, '/live.js': LIVE_JS } as const;

/** The libraries the page loads, by URL path: each is a file of node_modules, nothing else is. */
export const LIBS = {
  '/lib/vega.min.js': ['vega', 'vega.min.js'],
  '/lib/vega-lite.min.js': ['vega-lite', 'vega-lite.min.js'],
  '/lib/vega-embed.min.js': ['vega-embed', 'vega-embed.min.js'],
} as const satisfies Record<string, readonly [string, string]>;

/**
 * Scripts only from the server itself (no inline script runs: the tables are JSON), requests only
 * to it (the event stream, the page's refresh); vega compiles expressions with `new Function`.
 */
export const CSP = "default-src 'none'; script-src 'self' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data: blob:; font-src data:; connect-src 'self'";

const WATCH_STYLE = `<style>
#watch{position:sticky;top:0;z-index:5;background:#fff;border-bottom:1px solid #ddd;padding:8px 0 6px}
#watch table{margin:4px 0;font-size:13px}#watch progress{width:140px;vertical-align:middle}
#runs-box{max-height:min(30vh,270px);overflow-y:auto}#runs thead th{position:sticky;top:0;background:#fff;z-index:1}
#watch .state{padding:1px 7px;border-radius:9px;color:#fff;font-size:12px}
.state.running{background:#1565c0}.state.complete{background:#1a7f37}.state.diverged{background:#8a6d00}
.state.abandoned,.state.interrupted,.state.failed,.state.stopped{background:#c62828}.state.queued{background:#999}
#live.off{color:#c62828}
</style>`;

function top(dir: string, version: number): string {
  return `<div id="watch" data-dir="${esc(dir)}">${WATCH_STYLE}
<div><b>probe watch</b> · <span class="meta">${esc(dir)}</span> · <span id="live" class="meta">connecting…</span></div>
<div id="runs-box"><table id="runs"><thead><tr><th>run</th><th>state</th><th>progress</th><th>steps</th><th>epochs</th><th>ETA</th><th>test accuracy</th><th></th></tr></thead><tbody></tbody></table></div>
<p id="ignored" class="meta warn"></p>
</div><span id="page-version" hidden>${version}</span>`;
}

function shell(dir: string, version: number): PageShell {
  return {
    csp: `<meta http-equiv="Content-Security-Policy" content="${CSP}">`,
    top: top(dir, version),
    libs: Object.keys(LIBS).map((src) => `<script src="${src}"></script>`).join('\n'),
    embed: '<script src="/charts.js"></script>\n<script src="/live.js"></script>',
  };
}

/** The page for the folder as the snapshot saw it. */
export function watchPage(snap: Snapshot, dir: string, version: number): string {
  const s = shell(dir, version);
  if (snap.digests.length === 0) {
    // the live script still runs: the page fills in when the first trace appears
    return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">${s.csp}<title>probe watch: ${esc(dir)}</title></head><body>${s.top}
<h1>probe watch</h1><p id="waiting">No trace in ${esc(dir)} yet: the page fills in when a run writes its first checkpoint (probe run --out, probe sweep --out).</p>
${s.libs}
<script id="probe-data" type="application/json">{"specs":{},"data":{}}</script>
${s.embed}
</body></html>
`;
  }
  // runs still training would count as failures of their unfinished epochs: verdicts wait for them
  const pending = new Set(snap.runs.flatMap((r, i) => (r.state === 'running' ? [snap.digests[i].path] : [])));
  const model = reportModel(snap.digests, [dir], () => {}, pending);
  const running = pending.size;
  const truncated = snap.runs.filter((r) => r.state !== 'running' && r.state !== 'complete' && r.state !== 'diverged' && r.state !== 'stopped').length;
  return pageHtml({
    ...model.page,
    // the report would call a run in flight truncated
    inputs: `${snap.digests.length} trace${snap.digests.length > 1 ? 's' : ''} (${new Set(snap.digests.map((d) => d.combo)).size} combination(s), ${running} in flight, ${truncated} truncated) in ${dir}`,
    title: `probe watch: ${snap.digests.length} run${snap.digests.length > 1 ? 's' : ''}${running ? `, ${running} in flight` : ''}`,
    warnings: [...model.page.warnings.filter((w) => !/ is (truncated|in flight): /.test(w)), ...truncatedNotes(snap)],
  }, s);
}

/** The report's "is truncated" notes, said as the live view knows them: in flight, or abandoned. */
function truncatedNotes(snap: Snapshot): string[] {
  return snap.runs.filter((r) => r.state !== 'complete' && r.state !== 'diverged' && r.state !== 'stopped').map((r) =>
    r.state === 'running'
      ? `${r.run} is in flight (${r.epochsDone} of ${r.epochsPlanned ?? '?'} epochs finished): charted as it grows, counted in the verdicts once it finishes`
      : `${r.run} is truncated (${r.state}): ${r.epochsDone} of ${r.epochsPlanned ?? '?'} epochs finished`);
}
