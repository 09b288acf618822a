/**
 * What every page of probe shares (report, compare, watch): vega, vega-lite and vega-embed
 * inlined from node_modules, tables embedded once (columnar), a Content-Security-Policy that
 * forbids any network request, the style, and a page of charts.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { CHARTS_JS } from './embed.js';

/** The Vega-Lite schema every spec names (the tests validate against it). */
export const VL_SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** A table as rows; columnar() packs it for the page. */
export type Row = Record<string, string | number | boolean | null>;

const require = createRequire(import.meta.url);

/** The browser builds; `require.resolve` of these subpaths is blocked by the packages' exports. */
export function libFile(pkg: string, file: string): string {
  let dir = dirname(require.resolve(pkg));
  while (!dir.endsWith(join('node_modules', pkg))) dir = dirname(dir);
  return join(dir, 'build', file);
}

const libSource = (pkg: string, file: string): string => readFileSync(libFile(pkg, file), 'utf8');

/** Text made safe for HTML content and attribute values. */
export const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
export const script = (js: string) => `<script>${js.replace(/<\/script/gi, '<\\/script')}</script>`;

/**
 * Rows → columns, string columns dictionary-encoded ({d: distinct values, i: codes}): long
 * tables of few distinct run and metric names shrink to a fraction.
 */
function columnar(rows: readonly Row[]): Record<string, unknown> {
  const cols: Record<string, unknown> = {};
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  for (const k of keys) {
    const values = rows.map((r) => r[k] ?? null);
    if (values.some((v) => typeof v === 'string')) {
      const d: unknown[] = [], index = new Map<unknown, number>();
      const i = values.map((v) => { let c = index.get(v); if (c === undefined) { index.set(v, (c = d.length)); d.push(v); } return c; });
      cols[k] = { d, i };
    } else {
      cols[k] = values;
    }
  }
  return cols;
}

export const CSP = `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data: blob:; font-src data:">`;

export function libScripts(): string {
  return [libSource('vega', 'vega.min.js'), libSource('vega-lite', 'vega-lite.min.js'), libSource('vega-embed', 'vega-embed.min.js')].map(script).join('\n');
}


export const STYLE = `<style>
body{font:14px/1.45 system-ui,-apple-system,"DejaVu Sans",sans-serif;margin:0 auto;max-width:1180px;padding:0 20px 60px;color:#222}
h1{font-size:22px;margin:20px 0 4px}h2{margin-top:36px;border-bottom:1px solid #ddd}h3{font-size:16px}
.meta{color:#666}.badge{padding:2px 8px;border-radius:10px;font-size:13px;color:#fff}
.ok{color:#1a7f37}.bad{color:#c62828}.meh{color:#777}.badge.ok{background:#1a7f37;color:#fff}.badge.bad{background:#c62828;color:#fff}.badge.meh{background:#777;color:#fff}
table{border-collapse:collapse;margin:8px 0}td,th{border-bottom:1px solid #eee;padding:3px 10px;text-align:left;vertical-align:top}
figure{margin:18px 0}figcaption{color:#444;margin-bottom:6px;max-width:900px}.warn{color:#8a6d00}.single{background:#fff7e0;padding:6px 10px}
select{font-size:14px;padding:2px}a.csv{font-size:12px;margin-left:6px}pre.diag{white-space:pre-wrap;background:#f4f6f8;padding:6px 10px}.meaning{background:#eef4ff;padding:6px 10px}
</style>`;

export function payload(panels: readonly ChartPanel[], tables: Record<string, unknown>): string {
  const specs = Object.fromEntries(panels.flatMap((x) => [[x.id, x.spec], ...(x.logSpec ? [[`${x.id}@log`, x.logSpec]] : [])]));
  const data = Object.fromEntries(Object.entries(tables).filter(([, v]) => Array.isArray(v) && (v.length === 0 || typeof v[0] === 'object')).map(([k, v]) => [k, columnar(v as Row[])]));
  return `<script id="probe-data" type="application/json">${JSON.stringify({ specs, data }).replace(/</g, '\\u003c')}</script>`;
}

/** What a page needs of a chart: its id, title, caption (shown above it) and Vega-Lite spec. */
export interface ChartPanel {
  readonly id: string;
  readonly title: string;
  readonly caption: string;
  readonly spec: TopLevelSpec;
  /** the chart as drawn when the page's log-scale box is ticked (per-step charts: with the strip of steps exactly 0) */
  readonly logSpec?: TopLevelSpec;
}
export const chart = (x: ChartPanel) => `<figure><figcaption><b>${esc(x.title)}</b> — ${esc(x.caption)}</figcaption><div class="chart" id="chart-${x.id}" data-panel="${x.id}"></div></figure>`;

/** A page of charts, without the report's hypothesis sections (used by compare). */
export function chartsPage(title: string, subtitle: string, bodyHtml: string, panels: readonly ChartPanel[], tables: Record<string, unknown>): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">${CSP}
<title>${esc(title)}</title>${STYLE}</head><body>
<h1>${esc(title)}</h1><p class="meta">${esc(subtitle)}</p>
${bodyHtml}
${panels.map(chart).join('\n')}
${libScripts()}
${payload(panels, tables)}
${script(CHARTS_JS)}
</body></html>
`;
}

