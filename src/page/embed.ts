/**
 * The dashboard's script in the browser: one for both ways the page is served, inlined in
 * `probe report`'s file and served by `probe watch` (whose live part, watch/client.ts, drives it
 * through `window.probeCharts`). It expands the columnar tables, embeds every `.chart`, drives one
 * signal per page-wide control (`data-signal`), and gives what people coming from TensorBoard
 * reach for: exponential smoothing of the per-step series (TensorBoard's debiased EMA), a log scale
 * for them, PNG/SVG export (vega-embed's menu, drawn in the page: offline) and each chart's rows as
 * CSV. Sets body[data-rendered] (charts drawn) or body[data-error].
 */

/** The controls the script reads, placed beside the run picker. */
export const CHART_CONTROLS = `<p class="controls"><label>smoothing <input id="smooth" type="range" min="0" max="0.99" step="0.01" value="0"> <output id="smooth-value">0</output></label>
 · <label><input id="logscale" type="checkbox"> log scale</label>
 <span class="meta">(per-step charts) · each chart's ⋯ menu saves it as PNG or SVG; “data (CSV)” saves its rows</span></p>`;

export const CHARTS_JS = String.raw`window.probeCharts = (() => {
'use strict';
let specs = {}, rows = {}, views = [], viewIds = [];

function expand(data) {
  const out = {};
  for (const [name, cols] of Object.entries(data)) {
    const keys = Object.keys(cols);
    const get = keys.map((k) => (Array.isArray(cols[k]) ? (i) => cols[k][i] : (i) => cols[k].d[cols[k].i[i]]));
    const n = keys.length ? (Array.isArray(cols[keys[0]]) ? cols[keys[0]] : cols[keys[0]].i).length : 0;
    out[name] = Array.from({ length: n }, (_, i) => Object.fromEntries(keys.map((k, j) => [k, get[j](i)])));
  }
  return out;
}

/** Reads the page's tables and specs (again after the page was swapped). */
function load() {
  const el = document.getElementById('probe-data');
  const p = el ? JSON.parse(el.textContent) : { specs: {}, data: {} };
  specs = p.specs; rows = expand(p.data);
  joinZeros(rows);
}

// the buckets holding steps exactly 0 come as their own short table: each series row gets its
// share of zeros, the mean of its other steps and where it ends
function joinZeros(t) {
  if (!t.series || !t.zeros || !t.zeros.length) return;
  const key = (r) => r.pick + '|' + r.layer + '|' + r.metric + '|' + r.step;
  const z = new Map(t.zeros.map((r) => [key(r), r]));
  for (const r of t.series) {
    const m = z.get(key(r));
    if (m) { r.zero = m.zero; r.nz = m.nz; r.stepEnd = m.stepEnd; }
  }
}

// TensorBoard's smoothing: an exponential moving average, debiased so early points are not pulled
// to 0. A bucket holding a step exactly 0, or a value that is not a number, is drawn as it is and
// the average starts again after it: smoothing never bridges a 0 nor decays into one (a dead
// layer's zeros would otherwise be drawn as a gradient that vanishes)
function smoothed(series, w) {
  if (!series || w <= 0) return series;
  const groups = new Map();
  for (const r of series) {
    const k = r.pick + '|' + r.layer + '|' + r.metric;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(r);
  }
  const out = [];
  for (const g of groups.values()) {
    g.sort((a, b) => a.step - b.step);
    let last = 0, weight = 0;
    for (const r of g) {
      if (typeof r.value !== 'number' || !Number.isFinite(r.value) || r.value === 0 || r.zero > 0) { out.push(r); last = 0; weight = 0; continue; }
      last = last * w + (1 - w) * r.value;
      weight = weight * w + (1 - w);
      out.push({ ...r, raw: r.value, value: last / weight });
    }
  }
  return out;
}

// log scale for a per-step chart without its own log form (the panels' '@log' specs draw the
// steps exactly 0 as a strip): y of the 'series' table; a bucket holding zeros draws the mean of
// its other steps, and where all are 0 the line breaks
function logged(spec) {
  const walk = (s, data) => {
    if (!s || typeof s !== 'object') return;
    const d = (s.data && s.data.name) || data;
    const y = s.encoding && s.encoding.y;
    if (d === 'series' && y && y.field === 'value') {
      y.scale = { ...(y.scale || {}), type: 'log' };
      delete y.scale.zero;
      s.transform = [...(s.transform || []), { calculate: 'datum.zero > 0 ? datum.nz : datum.value', as: 'value' }, { filter: 'datum.value > 0' }];
    }
    for (const k of ['layer', 'hconcat', 'vconcat', 'concat']) if (Array.isArray(s[k])) s[k].forEach((c) => walk(c, d));
    if (s.spec) walk(s.spec, d);
  };
  walk(spec, null);
  return spec;
}

function tablesOf(spec) {
  const names = new Set();
  const walk = (s) => {
    if (!s || typeof s !== 'object') return;
    if (s.data && typeof s.data.name === 'string') names.add(s.data.name);
    for (const k of ['layer', 'hconcat', 'vconcat', 'concat']) if (Array.isArray(s[k])) s[k].forEach(walk);
    if (s.spec) walk(s.spec);
  };
  walk(spec);
  return [...names];
}

function csv(list) {
  const keys = [...new Set(list.flatMap((r) => Object.keys(r)))];
  const cell = (v) => (v === null || v === undefined ? '' : /[",\n]/.test(String(v)) ? '"' + String(v).replace(/"/g, '""') + '"' : String(v));
  return [keys.join(','), ...list.map((r) => keys.map((k) => cell(r[k])).join(','))].join('\n') + '\n';
}

function signals() {
  const s = {};
  for (const el of document.querySelectorAll('[data-signal]')) s[el.dataset.signal] = el.value;
  const pick = document.getElementById('pick');
  if (pick && !pick.dataset.signal) s.pick = pick.value;
  return s;
}

function csvLink(el, spec, tables) {
  const a = document.createElement('a');
  a.className = 'csv';
  a.textContent = 'data (CSV)';
  a.href = '#';
  a.addEventListener('click', (e) => {
    e.preventDefault();
    const sig = signals();
    const picked = (spec.params || []).some((p) => p.name === 'pick');
    const list = tablesOf(spec).flatMap((n) => (tables[n] || []).filter((r) => !picked || !('pick' in r) || r.pick === sig.pick).map((r) => ({ table: n, ...r })));
    const url = URL.createObjectURL(new Blob([csv(list)], { type: 'text/csv' }));
    const link = document.createElement('a');
    link.href = url; link.download = el.dataset.panel + '.csv';
    document.body.appendChild(link); link.click(); link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  });
  el.parentElement.querySelector('figcaption')?.appendChild(a);
}

const options = () => ({ smooth: Number(document.getElementById('smooth')?.value ?? 0), log: document.getElementById('logscale')?.checked === true });

async function embed() {
  for (const v of views) v.finalize();
  views = []; viewIds = [];
  const opts = options();
  const tables = { ...rows, series: smoothed(rows.series, opts.smooth) };
  const sig = signals();
  for (const el of document.querySelectorAll('.chart')) {
    const own = opts.log ? specs[el.dataset.panel + '@log'] : undefined;
    let spec = structuredClone(own ?? specs[el.dataset.panel]);
    if (!spec) continue;
    spec.datasets = tables;
    for (const p of spec.params || []) { delete p.bind; if (sig[p.name] !== undefined && sig[p.name] !== '') p.value = sig[p.name]; }
    if (opts.log && !own) spec = logged(spec);
    el.parentElement.querySelector('figcaption .csv')?.remove();
    const { view } = await vegaEmbed(el, spec, {
      renderer: 'svg', logLevel: vega.Error, downloadFileName: el.dataset.panel,
      actions: { export: true, source: false, compiled: false, editor: false },
    });
    csvLink(el, spec, tables);
    views.push(view); viewIds.push(el.dataset.panel);
  }
  showDiagnosis();
  document.body.dataset.rendered = String(views.length);
}

function showDiagnosis() {
  const line = document.getElementById('diagnosis-line');
  const pick = document.getElementById('pick');
  const lines = JSON.parse(document.getElementById('probe-diagnoses')?.textContent ?? '{}');
  if (line && pick) line.textContent = (lines[pick.value] ?? []).join('\n');
}

// the controls may be swapped with the page: listen once, on the document
document.addEventListener('change', (e) => {
  const t = e.target;
  if (t.id === 'logscale' || t.id === 'smooth') { render(); return; }
  const name = t.dataset?.signal ?? (t.id === 'pick' ? 'pick' : null);
  if (!name) return;
  for (const v of views) { try { v.signal(name, t.value).runAsync(); } catch (_) { /* chart without it */ } }
  if (t.id === 'pick') showDiagnosis();
});
document.addEventListener('input', (e) => { if (e.target.id === 'smooth') document.getElementById('smooth-value').textContent = e.target.value; });

function fail(e) { document.body.dataset.error = String(e); console.error(e); }

// one thing at a time: a redraw and a page swap never interleave
let chain = Promise.resolve(), renderQueued = false;
const queue = (f) => { chain = chain.then(f).catch(fail); return chain; };
function render() {
  if (renderQueued) return chain;
  renderQueued = true;
  return queue(async () => { renderQueued = false; await embed(); });
}

load();
render();
// view(id): a chart's vega view, for whoever checks what is drawn (the browser tests)
return { load, embed, queue, signals, fail, view: (id) => views[viewIds.indexOf(id)] };
})();
`;
