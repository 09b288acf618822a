/**
 * The live page's script (served as /live.js). It embeds the report's charts as the report's own
 * script does (columnar tables expanded, one page-wide control per signal), and adds what people
 * coming from TensorBoard reach for: exponential smoothing of the per-step series (TensorBoard's
 * debiased EMA), a log scale for them, PNG/SVG export (vega-embed's menu, drawn in the page:
 * offline) and a CSV of each chart's rows. One EventSource brings the runs' state; when the page
 * version it carries differs from the one shown, the page is fetched once and swapped in, keeping
 * the controls' values and the scroll position.
 */
export const LIVE_JS = String.raw`(() => {
'use strict';
const $ = (s) => document.querySelector(s);
const shown = { version: Number($('#page-version')?.textContent ?? -1) };
const opts = { smooth: 0, log: false };
let specs = {}, rows = {}, views = [];

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

function load() {
  const el = document.getElementById('probe-data');
  const p = el ? JSON.parse(el.textContent) : { specs: {}, data: {} };
  specs = p.specs; rows = expand(p.data);
}

// TensorBoard's smoothing: an exponential moving average, debiased so early points are not pulled to 0
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
      if (typeof r.value !== 'number' || !Number.isFinite(r.value)) { out.push(r); continue; }
      last = last * w + (1 - w) * r.value;
      weight = weight * w + (1 - w);
      out.push({ ...r, raw: r.value, value: last / weight });
    }
  }
  return out;
}

// log scale for per-step series: y of the 'series' table; values ≤ 0 cannot be drawn and are left out
function logged(spec) {
  const walk = (s, data) => {
    if (!s || typeof s !== 'object') return;
    const d = (s.data && s.data.name) || data;
    const y = s.encoding && s.encoding.y;
    if (d === 'series' && y && y.field === 'value') {
      y.scale = { ...(y.scale || {}), type: 'log' };
      delete y.scale.zero;
      s.transform = [...(s.transform || []), { filter: 'datum.value > 0' }];
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

async function embed() {
  for (const v of views) v.finalize();
  views = [];
  const tables = { ...rows, series: smoothed(rows.series, opts.smooth) };
  const sig = signals();
  for (const el of document.querySelectorAll('.chart')) {
    let spec = structuredClone(specs[el.dataset.panel]);
    if (!spec) continue;
    spec.datasets = tables;
    for (const p of spec.params || []) { delete p.bind; if (sig[p.name] !== undefined && sig[p.name] !== '') p.value = sig[p.name]; }
    if (opts.log) spec = logged(spec);
    el.parentElement.querySelector('figcaption .csv')?.remove();
    const { view } = await vegaEmbed(el, spec, {
      renderer: 'svg', logLevel: vega.Error, downloadFileName: el.dataset.panel,
      actions: { export: true, source: false, compiled: false, editor: false },
    });
    csvLink(el, spec, tables);
    views.push(view);
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

// controls are swapped with the page: listen once, on the document
document.addEventListener('change', (e) => {
  const t = e.target;
  if (t.id === 'logscale') { opts.log = t.checked; rerender(); return; }
  if (t.id === 'smooth') { opts.smooth = Number(t.value); rerender(); return; }
  const name = t.dataset?.signal ?? (t.id === 'pick' ? 'pick' : null);
  if (!name) return;
  for (const v of views) { try { v.signal(name, t.value).runAsync(); } catch (_) { /* chart without it */ } }
  if (t.id === 'pick') showDiagnosis();
});
document.addEventListener('input', (e) => { if (e.target.id === 'smooth') $('#smooth-value').textContent = e.target.value; });

// one thing at a time: a redraw and a page swap never interleave
let chain = Promise.resolve(), renderQueued = false, refreshQueued = false;
const queue = (f) => { chain = chain.then(f).catch(fail); };
function rerender() {
  if (renderQueued) return;
  renderQueued = true;
  queue(async () => { renderQueued = false; await embed(); });
}

function fail(e) { document.body.dataset.error = String(e); console.error(e); }

let wanted = -1;
function refresh() {
  if (refreshQueued) return;
  refreshQueued = true;
  queue(async () => {
    refreshQueued = false;
    if (shown.version >= wanted) return;
    const res = await fetch('/page', { cache: 'no-store' });
    if (!res.ok) throw new Error('GET /page: ' + res.status);
      const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
      const version = Number(doc.getElementById('page-version')?.textContent ?? -1);
      const sig = signals(), y = window.scrollY;
      const keep = (n) => n.id === 'watch' || (n.tagName === 'SCRIPT' && n.src);
      for (const n of [...document.body.childNodes]) if (!keep(n)) n.remove();
      for (const n of [...doc.body.childNodes]) {
        if (keep(n) || (n.tagName === 'SCRIPT' && n.type !== 'application/json') || n.tagName === 'STYLE') continue;
        document.body.appendChild(document.adoptNode(n));
      }
      for (const st of doc.head.querySelectorAll('style')) if (![...document.head.querySelectorAll('style')].some((s) => s.textContent === st.textContent)) document.head.appendChild(document.adoptNode(st));
      document.title = doc.title;
      for (const [name, value] of Object.entries(sig)) {
        const el = document.querySelector('[data-signal="' + name + '"]') ?? (name === 'pick' ? document.getElementById('pick') : null);
        if (el && [...(el.options ?? [])].some((o) => o.value === value)) el.value = value;
      }
      shown.version = version;
      load();
      await embed();
      window.scrollTo(0, y);
      document.body.dataset.version = String(version);
  });
}

const fmt = (s) => (s === null ? '—' : s < 60 ? Math.round(s) + 's' : s < 3600 ? Math.floor(s / 60) + 'm' + String(Math.round(s % 60)).padStart(2, '0') + 's' : Math.floor(s / 3600) + 'h' + String(Math.floor((s % 3600) / 60)).padStart(2, '0') + 'm');

function showRuns(st) {
  const body = $('#runs tbody');
  body.replaceChildren(...st.runs.map((r) => {
    const tr = document.createElement('tr');
    tr.dataset.run = r.run; tr.dataset.state = r.state; tr.dataset.steps = String(r.stepsDone);
    const td = (text, cls) => { const c = document.createElement('td'); c.textContent = text; if (cls) c.className = cls; return c; };
    const state = document.createElement('td'), badge = document.createElement('span');
    badge.className = 'state ' + r.state;
    badge.textContent = r.state === 'stopped' ? 'stopped (truncated)' : r.state;
    state.appendChild(badge);
    const bar = document.createElement('td'), p = document.createElement('progress');
    p.max = r.stepsTotal ?? 1; p.value = r.stepsTotal ? r.stepsDone : 0; bar.appendChild(p);
    const dl = document.createElement('td'), a = document.createElement('a');
    a.href = '/trace/' + encodeURIComponent(r.file); a.textContent = 'trace'; a.download = r.file; dl.appendChild(a);
    tr.append(td(r.run), state, bar, td(r.stepsDone + ' / ' + (r.stepsTotal ?? '?'), 'steps'), td(r.epochsDone + ' / ' + (r.epochsPlanned ?? '?')),
      td(r.state === 'running' ? fmt(r.etaSeconds) : '—'), td(r.testAcc === null ? '—' : (100 * r.testAcc).toFixed(1) + '%'), dl);
    return tr;
  }));
  $('#ignored').textContent = st.ignored.length ? 'not traces, ignored: ' + st.ignored.map((x) => x.file).join(', ') : '';
  const live = $('#live');
  live.className = 'meta'; live.textContent = 'live · ' + st.runs.length + ' run(s) · checked ' + new Date(st.at).toLocaleTimeString();
  document.body.dataset.runs = String(st.runs.length);
}

load();
rerender();
const source = new EventSource('/events');
source.addEventListener('state', (e) => {
  const st = JSON.parse(e.data);
  showRuns(st);
  wanted = st.version;
  if (wanted > shown.version) refresh();
});
source.onerror = () => { const live = $('#live'); if (live) { live.className = 'off'; live.textContent = 'disconnected: retrying…'; } };
})();
`;
