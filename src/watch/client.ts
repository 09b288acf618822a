/**
 * The live part of `probe watch`'s page (served as /live.js, after the dashboard's own script,
 * report/embed.ts). One EventSource brings the runs' state; when the page version it carries is
 * newer than the one shown, the page is fetched once and swapped in, keeping the controls' values
 * and the scroll position, and the charts are drawn again from its tables.
 */
export const LIVE_JS = String.raw`(() => {
'use strict';
const $ = (s) => document.querySelector(s);
const charts = window.probeCharts;
const shown = { version: Number($('#page-version')?.textContent ?? -1) };
let refreshQueued = false;

let wanted = -1;
function refresh() {
  if (refreshQueued) return;
  refreshQueued = true;
  charts.queue(async () => {
    refreshQueued = false;
    if (shown.version >= wanted) return;
    const res = await fetch('/page', { cache: 'no-store' });
    if (!res.ok) throw new Error('GET /page: ' + res.status);
      const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
    const version = Number(doc.getElementById('page-version')?.textContent ?? -1);
    const sig = charts.signals(), y = window.scrollY;
    const inputs = [...document.querySelectorAll('input[id]')].map((el) => [el.id, el.type === 'checkbox' ? el.checked : el.value]);
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
    for (const [id, v] of inputs) {
      const el = document.getElementById(id);
      if (!el) continue;
      if (el.type === 'checkbox') el.checked = v; else el.value = v;
      if (id === 'smooth') { const out = document.getElementById('smooth-value'); if (out) out.textContent = v; }
    }
    shown.version = version;
    charts.load();
    await charts.embed();
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
    badge.textContent = r.state === 'abandoned' ? 'abandoned (truncated)' : r.state === 'stopped' ? 'stopped by a rule' : r.state;
    state.appendChild(badge);
    const bar = document.createElement('td'), p = document.createElement('progress');
    p.max = r.stepsTotal ?? 1; p.value = r.stepsTotal ? r.stepsDone : 0; bar.appendChild(p);
    const dl = document.createElement('td'), a = document.createElement('a');
    if (r.state !== 'queued') { a.href = '/trace/' + encodeURIComponent(r.file); a.textContent = 'trace'; a.download = r.file; dl.appendChild(a); }
    tr.append(td(r.run), state, bar, td(r.stepsDone + ' / ' + (r.stepsTotal ?? '?'), 'steps'), td(r.epochsDone + ' / ' + (r.epochsPlanned ?? '?')),
      td(r.state === 'running' ? fmt(r.etaSeconds) : '—'), td(r.testAcc === null ? '—' : (100 * r.testAcc).toFixed(1) + '%'), dl);
    return tr;
  }));
  $('#ignored').textContent = st.ignored.length ? 'not traces, ignored: ' + st.ignored.map((x) => x.file).join(', ') : '';
  const live = $('#live');
  live.className = 'meta'; live.textContent = 'live · ' + st.runs.length + ' run(s) · checked ' + new Date(st.at).toLocaleTimeString();
  document.body.dataset.runs = String(st.runs.length);
}

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
