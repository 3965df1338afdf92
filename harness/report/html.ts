import { PHASES } from '../model/index.js';
import { conditionNotes, renderTimeline } from '../judge/timeline-text.js';
import { judgeTimeline } from '../judge/verdict.js';
import type { CaseEntry } from './run-folder.js';
import { summarize, type SummaryRow } from './summary.js';
import { esc } from './svg-kit.js';
import { renderSvg } from './svg.js';
import { commonSysctls, sysctlOverrides } from './sysctls.js';

/**
 * The run report: one self-contained HTML file (inline CSS, inline SVG, a few lines of inline
 * script, no external asset) so it can be mailed, attached to a CI run or opened from a file
 * manager years later. Pure: the run's cases in, HTML text out (the CLI does the file I/O).
 *
 * One table row per case; clicking a row opens its timeline picture, the text timeline and the
 * model's reasons beneath it. Cases that differ from the model are open from the start: they are
 * why someone opens the report. Without script every row is open (noscript), never hidden.
 */
export interface ReportInput {
  runId: string;
  cases: CaseEntry[];
  /** case folders whose observation.json could not be read */
  unreadable?: string[];
  generatedAt: Date;
}

const phaseRank = (p: string) => {
  const i = (PHASES as readonly string[]).indexOf(p);
  return i < 0 ? PHASES.length : i;
};

/** Cases in the order of a connection's life (SYN-SENT first), then by name and family. */
export function orderCases(cases: readonly CaseEntry[]): CaseEntry[] {
  return [...cases].sort((a, b) => phaseRank(a.obs.phase) - phaseRank(b.obs.phase) || a.obs.name.localeCompare(b.obs.name) || a.obs.family - b.obs.family);
}

const uniq = <T>(xs: T[]) => [...new Set(xs)];

export function renderHtml(input: ReportInput): string {
  const cases = orderCases(input.cases);
  const observations = cases.map((c) => c.obs);
  const common = commonSysctls(observations);
  const rows = cases.map((c) => ({ c, s: summarize(c.obs), id: `case-${c.folder.replace(/[^A-Za-z0-9_-]/g, '_')}` }));
  const agree = rows.filter((r) => r.s.verdict === 'agrees').length;
  const differing = rows.filter((r) => r.s.verdict !== 'agrees');
  const kernels = uniq(observations.map((o) => o.kernel.release));
  const hz = uniq(observations.map((o) => o.kernel.hz));
  const profiles = uniq(observations.map((o) => o.profile));
  const conditions = uniq(observations.flatMap((o) => conditionNotes(o.conditions)));

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>deadpeer run ${esc(input.runId)}</title>
<style>${CSS}</style>
<noscript><style>tr.detail{display:table-row}</style></noscript>
</head>
<body>
<header>
<h1>deadpeer — how long until a socket notices its peer is gone</h1>
<p class="verdict ${agree === rows.length ? 'ok' : 'bad'}">${agree} of ${rows.length} run${rows.length === 1 ? '' : 's'} agree with the model of this kernel${differing.length ? ` — ${differing.length} differ${differing.length === 1 ? 's' : ''} (opened below): ${differing.map(({ s, id }) => `<a href="#${esc(id)}">${esc(s.case)} v${s.family}</a>`).join(', ')}` : ''}</p>
<dl class="facts">
<dt>kernel</dt><dd>${esc(kernels.join(', ') || '—')}</dd>
<dt>HZ</dt><dd>${esc(hz.join(', ') || '—')}</dd>
<dt>profile</dt><dd>${esc(profiles.join(', ') || '—')}</dd>
${conditions.length ? `<dt>conditions</dt><dd class="warn">${esc(conditions.join('; '))}</dd>\n` : ''}<dt>run</dt><dd>${esc(input.runId)}</dd>
<dt>report written</dt><dd>${esc(input.generatedAt.toISOString())}</dd>
</dl>
<details class="sysctls"><summary>effective sysctls (the value most namespaces had; a case's own changes are in its row)</summary>
<table class="kv">${Object.entries(common)
    .map(([k, v]) => `<tr><td>net.ipv4.${esc(k)}</td><td>${esc(v)}</td></tr>`)
    .join('')}</table>
</details>
${input.unreadable?.length ? `<p class="warn">unreadable case folders (interrupted run?): ${esc(input.unreadable.join(', '))}</p>` : ''}
</header>
<main>
<p class="hint">Click a row for its timeline picture. Times are seconds from each case's t = 0 (the start of its phase, named in its picture); keepalive I/V/C = TCP_KEEPIDLE s / TCP_KEEPINTVL s / TCP_KEEPCNT; packets = predicted packets seen / predicted. <button type="button" id="open-all">open all</button> <button type="button" id="close-all">close all</button></p>
<table class="cases">
<thead><tr><th></th><th>case</th><th>IP</th><th>phase</th><th>key settings</th><th>model: close</th><th>kernel: close</th><th>packets</th><th>verdict</th><th>files</th></tr></thead>
${rows.map(({ c, s, id }) => caseBody(c, s, id, sysctlOverrides(c.obs, common))).join('\n')}
</table>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

function caseBody(c: CaseEntry, s: SummaryRow, id: string, overrides: string[]): string {
  const open = s.verdict !== 'agrees';
  const settings = [s.settings, ...overrides].filter(Boolean).join('; ');
  const link = (href: string | undefined, label: string) => (href ? `<a href="${esc(encodeURI(href))}">${label}</a>` : '');
  const v = judgeTimeline(c.obs);
  return `<tbody id="${esc(id)}" class="case${open ? ' open' : ''}">
<tr class="summary" tabindex="0" aria-expanded="${open}">
<td class="toggle">▸</td><td class="name">${esc(s.case).replace(/\//g, '/<wbr>')}</td><td>v${s.family}</td><td class="nowrap">${esc(s.phase)}</td><td class="settings">${esc(settings)}</td>
<td class="nowrap">${esc(s.predicted)}</td><td class="nowrap">${esc(s.observed)}</td><td>${esc(s.packets)}</td>
<td><span class="badge ${s.verdict === 'agrees' ? 'ok' : 'bad'}">${s.verdict === 'agrees' ? '✓ agrees' : s.verdict === 'cannot judge' ? '? cannot judge' : '✗ DIFFERS'}</span></td>
<td class="files">${[link(c.files.pcap, 'pcap'), link(c.files.json, 'json'), link(c.files.svg, 'svg')].filter(Boolean).join(' · ')}</td>
</tr>
<tr class="detail"><td></td><td colspan="9">
<div class="picture">${renderSvg(c.obs)}</div>
<details><summary>text timeline (as in a failing test)</summary><pre>${esc(renderTimeline(c.obs, v))}</pre></details>
<details><summary>why the model predicts this</summary><ul>${c.obs.prediction.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul></details>
</td></tr>
</tbody>`;
}

const CSS = `
:root{--ink:#1f2933;--muted:#66717d;--ok:#1e8449;--bad:#c0392b;--line:#d5dae0}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--ink);margin:0 24px 40px}
h1{font-size:20px;margin:18px 0 6px}
.verdict{font-weight:600;margin:4px 0 10px}.verdict a{color:inherit}.verdict.ok{color:var(--ok)}.verdict.bad{color:var(--bad)}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0 0 8px}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0;font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace}
details.sysctls summary{cursor:pointer;color:var(--muted)}
table.kv{border-collapse:collapse;margin:6px 0 6px 16px;font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12.5px}
table.kv td{padding:1px 12px 1px 0}
.hint{color:var(--muted)}
table.cases{border-collapse:collapse;width:100%}
table.cases th{text-align:left;font-weight:600;border-bottom:2px solid var(--line);padding:6px 8px;position:sticky;top:0;background:#fff}
table.cases td{padding:5px 8px;vertical-align:top}
tr.summary{cursor:pointer;border-top:1px solid var(--line)}
tr.summary:hover,tr.summary:focus{background:#f3f6f9;outline:none}
tbody.case.open tr.summary{background:#f7f9fb}
td.toggle{width:1em;color:var(--muted);transition:transform .1s}
tbody.case.open td.toggle{transform:rotate(90deg)}
td.name{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:13px}
td.settings{font-size:12.5px;color:#3e4c59;min-width:14em;max-width:30em}
td.files,td.nowrap{white-space:nowrap}td.files a{color:#2463b5}
.badge{display:inline-block;padding:1px 8px;border-radius:9px;font-weight:600;font-size:12.5px;white-space:nowrap}
.badge.ok{background:#e3f4e8;color:var(--ok)}.badge.bad{background:#fbe4e1;color:var(--bad)}
tr.detail{display:none}
tbody.case.open tr.detail{display:table-row}
.picture{overflow-x:auto;border:1px solid var(--line);border-radius:4px;margin:6px 0;background:#fff}
.picture svg{display:block;max-width:100%;height:auto}
pre{font-size:12px;background:#f7f9fb;padding:8px;overflow-x:auto}
details>summary{cursor:pointer;color:var(--muted);margin:4px 0}
.warn{color:var(--bad)}
`;

/** Row toggling; "#all" in the URL opens every row (handy for screenshots and printing). */
const SCRIPT = `
(function(){
  var bodies=[].slice.call(document.querySelectorAll('tbody.case'));
  function set(b,open){b.classList.toggle('open',open);b.querySelector('tr.summary').setAttribute('aria-expanded',String(open));}
  bodies.forEach(function(b){
    var row=b.querySelector('tr.summary');
    row.addEventListener('click',function(e){if(e.target.closest('a'))return;set(b,!b.classList.contains('open'));});
    row.addEventListener('keydown',function(e){if(e.key==='Enter'||e.key===' '){e.preventDefault();set(b,!b.classList.contains('open'));}});
  });
  document.getElementById('open-all').onclick=function(){bodies.forEach(function(b){set(b,true);});};
  document.getElementById('close-all').onclick=function(){bodies.forEach(function(b){set(b,false);});};
  if(location.hash==='#all')bodies.forEach(function(b){set(b,true);});
  else if(location.hash){var t=document.getElementById(location.hash.slice(1));if(t&&t.classList.contains('case'))set(t,true);}
})();
`;
