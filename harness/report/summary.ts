import { placedCloseAt } from '../model/wheel.js';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { judgeTimeline, observedEnd } from '../judge/verdict.js';
import type { Observation } from '../core/observation.js';

/** One line of the run's summary: what the model said, what the kernel did. */
export interface SummaryRow {
  case: string;
  family: 4 | 6;
  phase: string;
  /** the observed side's socket options (a server-side case shows the server's, so prefixed) */
  settings: string;
  predicted: string;
  observed: string;
  packets: string;
  verdict: 'agrees' | 'DIFFERS' | 'cannot judge';
}

const secs = (t: number | null) => (t === null ? 'never' : `${t.toFixed(2)} s`);

export function summarize(obs: Observation): SummaryRow {
  const v = judgeTimeline(obs);
  const subject = obs.subject ?? 'client';
  const s = obs.settings[subject].socket;
  const options = [
    s.keepalive ? `keepalive ${s.keepIdle}/${s.keepIntvl}/${s.keepCnt}` : 'keepalive off',
    s.userTimeoutMs ? `user timeout ${s.userTimeoutMs} ms` : '',
    s.synCnt && subject === 'client' ? `syncnt ${s.synCnt}` : '',
    s.deferAcceptS ? `defer accept ${s.deferAcceptS} s` : '',
  ]
    .filter(Boolean)
    .join(', ');
  const settings = subject === 'server' ? `server: ${options}` : options;
  const seen = v.events.filter((e) => e.observed).length;
  // errno null with a close time: the connection leaves the kernel's tables without the
  // application ever holding it (a SYN-RECV request), so "gone", not "open"
  const closeAt = placedCloseAt(obs.prediction);
  const predicted = closeAt === null ? 'stays open' : `${obs.prediction.errno ?? 'gone'} @ ${secs(closeAt)}`;
  const end = observedEnd(obs);
  return {
    case: obs.name,
    family: obs.family,
    phase: obs.phase,
    settings,
    predicted,
    observed: obs.close ? `${obs.close.errno} @ ${secs(end)}` : end !== null ? `gone @ ${secs(end)}` : 'open',
    packets: `${seen}/${obs.prediction.events.length}`,
    verdict: v.cannotJudge ? 'cannot judge' : v.ok ? 'agrees' : 'DIFFERS',
  };
}

/** Every observation.json under a run folder. */
export function loadObservations(dir: string): Observation[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, 'observation.json')))
    .map((d) => JSON.parse(readFileSync(join(dir, d.name, 'observation.json'), 'utf8')) as Observation)
    .sort((a, b) => a.name.localeCompare(b.name) || a.family - b.family);
}

/** A plain-text table, columns sized to their content. */
export function renderTable(rows: SummaryRow[]): string {
  const head: Record<keyof SummaryRow, string> = {
    case: 'case',
    family: 'IP',
    phase: 'phase',
    settings: 'client settings',
    predicted: 'model',
    observed: 'kernel',
    packets: 'packets',
    verdict: 'verdict',
  };
  const cols = Object.keys(head) as (keyof SummaryRow)[];
  const cells = [head, ...rows].map((r) => cols.map((c) => (c === 'family' && r !== head ? `v${r[c]}` : String(r[c]))));
  const width = cols.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(width[i]!)).join('  ').trimEnd();
  return [line(cells[0]!), width.map((w) => '─'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}
