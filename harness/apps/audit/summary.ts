import type { SocketSettings } from '../../model/types.js';
import { USER_PHASES, type UserPhase } from '../../recipes/phases.js';
import { shownRaw } from '../../core/one-line.js';
import { humanDuration } from '../check/advice.js';
import { type Judged, serviceOf } from './connection.js';
import { isAnswer, type PhaseVerdict } from './model.js';
import { AUDIT_VERDICTS, type AuditFinding, type AuditGroup, type AuditVerdict } from './report.js';

/**
 * The summary people act on: connections grouped by program (pid) and remote endpoint — or, for
 * connections a program accepted, its own port — and within a group one finding per verdict and
 * what the model says, in a sentence that names the setting to change.
 */

/** How a phase's dead peer is said. */
const PHASE_WORDS: Record<UserPhase, string> = {
  connect: 'a dead host at connect()',
  idle: 'an idle dead peer',
  busy: 'a dead peer with data unacknowledged',
  'zero-window': 'a dead peer behind a zero window',
};

/** Worst first: what the summary and the gate list first. */
const RANK: Record<AuditVerdict, number> = Object.fromEntries(AUDIT_VERDICTS.map((v, i) => [v, i])) as Record<AuditVerdict, number>;

/** The settings that decide a phase's answer, in words. */
export function cause(phase: UserPhase, s: SocketSettings, sysctls: { tcp_retries2: number; tcp_syn_retries: number }): string {
  const u = s.userTimeoutMs ? `TCP_USER_TIMEOUT ${s.userTimeoutMs} ms` : '';
  if (phase === 'idle') return s.keepalive ? `keepalive ${s.keepIdle}/${s.keepIntvl}/${s.keepCnt} s${u ? `, ${u}` : ''}` : 'SO_KEEPALIVE off';
  if (phase === 'connect') return [s.synCnt ? `TCP_SYNCNT ${s.synCnt}` : `tcp_syn_retries ${sysctls.tcp_syn_retries}`, u].filter(Boolean).join(', ');
  return u || `no TCP_USER_TIMEOUT, tcp_retries2 ${sysctls.tcp_retries2}`;
}

const timeOf = (v: PhaseVerdict | undefined): string => (v === undefined ? '' : !isAnswer(v) ? 'unknown' : `${v.spans ? '≈' : ''}${humanDuration(v.closeAt)}`);

/** "busy 15.6 s, zero-window 25 s" for the phases not already said. */
function listed(phases: Partial<Record<UserPhase, PhaseVerdict>>, except: UserPhase[] = []): string {
  return USER_PHASES.filter((p) => phases[p] !== undefined && !except.includes(p))
    .map((p) => `${p} ${timeOf(phases[p])}`)
    .join(', ');
}

/** The finding's sentence for a connection. */
export function findingLine(j: Judged, maxDetectS: number | undefined): string {
  const { c } = j;
  if (c.verdict === 'unreadable') return `options unreadable (${c.unreadable!.what}: ${c.unreadable!.errno}) — sock_diag shows ${c.state}, timer ${c.timer.kind}; no verdict`;
  if (c.verdict === 'closing') return `${c.state}: closing — no verdict`;
  if (c.verdict === 'unknown') return `no verdict: ${c.why}`;
  const said = (p: UserPhase) => cause(p, j.settings!, j.ns!.sysctls);
  const phases = USER_PHASES.filter((p) => isAnswer(c.phases[p]));
  const answer = (p: UserPhase) => c.phases[p] as { closeAt: number | null; closeWindow: [number, number] | null };
  if (c.verdict === 'never') {
    const never = phases.filter((p) => answer(p).closeAt === null);
    const rest = listed(c.phases, never);
    return `${never.map((p) => `${PHASE_WORDS[p]} is never noticed — ${said(p)}`).join('; ')}${rest ? `; ${rest}` : ''}`;
  }
  if (c.verdict === 'slow') {
    const over = phases.filter((p) => answer(p).closeWindow![1] > maxDetectS!);
    const rest = listed(c.phases, over);
    const first = over.map((p) => `${PHASE_WORDS[p]} is noticed only after up to ${humanDuration(answer(p).closeWindow![1])}, over ${humanDuration(maxDetectS!)} — ${said(p)}`);
    return `${first.join('; ')}${rest ? `; ${rest}` : ''}`;
  }
  return `notices a vanished peer in every phase: ${listed(c.phases)}`;
}

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

/** "3 connections of node (pid 913) to 198.18.0.2:5432", "12 connections accepted by postgres (pid 77) on port 5432". */
export function groupTitle(g: Pick<AuditGroup, 'program' | 'pid' | 'direction' | 'remoteAddress' | 'remotePort' | 'localPort'>, n: number): string {
  // a comm is whatever the program set: shown with its control characters escaped, one line whatever it holds
  const who = `${shownRaw(g.program)} (pid ${g.pid})`;
  if (g.direction === 'inbound') return `${plural(n, 'connection')} accepted by ${who} on port ${g.localPort}`;
  const remote = g.remoteAddress!.includes(':') ? `[${g.remoteAddress}]:${g.remotePort}` : `${g.remoteAddress}:${g.remotePort}`;
  return `${plural(n, 'connection')} of ${who} to ${remote}`;
}

/** The groups, worst first, each with its findings worst first. */
export function groupConnections(judged: readonly Judged[], maxDetectS: number | undefined): AuditGroup[] {
  const groups = new Map<string, AuditGroup & { byLine: Map<string, AuditFinding> }>();
  // connections of one configuration share their phases object (the model's memo): one sentence for all of them
  const said = new Map<object, string>();
  const lineOf = (j: Judged) => {
    if (!j.settings) return findingLine(j, maxDetectS);
    let line = said.get(j.c.phases);
    if (line === undefined) said.set(j.c.phases, (line = findingLine(j, maxDetectS)));
    return line;
  };
  for (const j of judged) {
    const k = { program: j.c.program, pid: j.c.pid, ...serviceOf(j.c) };
    const id = `${k.program}\0${k.pid}\0${k.direction}\0${k.remoteAddress ?? ''}\0${k.remotePort ?? k.localPort}`;
    let g = groups.get(id);
    if (!g) groups.set(id, (g = { ...k, connections: 0, verdicts: {}, findings: [], byLine: new Map() }));
    g.connections++;
    g.verdicts[j.c.verdict] = (g.verdicts[j.c.verdict] ?? 0) + 1;
    const line = lineOf(j);
    let f = g.byLine.get(line);
    if (!f) g.byLine.set(line, (f = { connections: 0, verdict: j.c.verdict, line, phases: j.c.phases, advice: j.advice, phaseNow: {} }));
    f.connections++;
    const now = j.c.phaseNow ?? 'none';
    f.phaseNow[now] = (f.phaseNow[now] ?? 0) + 1;
  }
  const worst = (g: AuditGroup) => Math.min(...Object.keys(g.verdicts).map((v) => RANK[v as AuditVerdict]));
  return [...groups.values()]
    .map(({ byLine, ...g }) => ({ ...g, findings: [...byLine.values()].sort((a, b) => RANK[a.verdict] - RANK[b.verdict] || b.connections - a.connections) }))
    .sort((a, b) => worst(a) - worst(b) || b.connections - a.connections || a.program.localeCompare(b.program) || a.pid - b.pid);
}

/** What fails a --max-detect gate: a verdict that is not a notice in time, except a connection already closing. */
export const FAILS_GATE: readonly AuditVerdict[] = ['never', 'slow', 'unreadable', 'unknown'];

/** The gate's failures, one sentence per failing finding. */
export function gateFailures(groups: readonly AuditGroup[]): string[] {
  return groups.flatMap((g) => g.findings.filter((f) => FAILS_GATE.includes(f.verdict)).map((f) => `${groupTitle(g, f.connections)}: ${f.line}`));
}

const nowWords = (f: AuditFinding) =>
  Object.entries(f.phaseNow)
    .map(([p, n]) => `${n} ${p === 'none' ? 'closing' : p}`)
    .join(', ');

/** The groups as text, each finding with its advice where it has something to change. */
export function renderGroups(groups: readonly AuditGroup[]): string[] {
  const lines: string[] = [];
  for (const g of groups) {
    const one = g.findings.length === 1;
    if (!one) lines.push(`${groupTitle(g, g.connections)}:`);
    for (const f of g.findings) {
      const head = one ? `${groupTitle(g, f.connections)}: ${f.line}` : `  ${f.connections} ${f.line}`;
      lines.push(`${head} (now: ${nowWords(f)})`);
      if (f.verdict === 'never' || f.verdict === 'slow') for (const a of f.advice) lines.push(`${one ? '  ' : '    '}- ${a}`);
    }
  }
  return lines;
}

/** "42 never, 3 notices, 1 unreadable" */
export function verdictCounts(v: Partial<Record<AuditVerdict, number>>): string {
  return AUDIT_VERDICTS.filter((k) => v[k])
    .map((k) => `${v[k]} ${k}`)
    .join(', ');
}
