/**
 * `deadpeer check`: a client socket configuration, run through every phase on the real kernel (in
 * parallel, each phase in its own pair of namespaces), judged against the model, with advice and
 * an optional CI gate on the detection times.
 */
import { humanDuration } from '../harness/apps/check/advice.js';
import { CHECK_USAGE, parseCheckArgs } from '../harness/apps/check/args.js';
import { PRESETS, describeConfig, findPreset } from '../harness/apps/check/presets.js';
import { verificationLine } from '../harness/apps/check/verification.js';
import { type CheckPlan, type CheckReport, type PhaseResult, planCheck, runCheckPlan } from '../harness/apps/check/run.js';
import type { MiddleboxResult } from '../harness/apps/check/middlebox.js';
import { FAST_SYSCTLS } from '../harness/core/profile.js';
import { runningKernel } from '../harness/engine/kernel.js';
import type { KernelFeatures } from '../harness/model/types.js';
import type { UserPhase } from '../harness/recipes/phases.js';
import { preflightProblem } from '../harness/suite/preflight.js';
import { acquireTimingLock } from '../harness/suite/timing-lock.js';
import { oneLine } from '../harness/core/one-line.js';


const fmtS = (t: number | null) => (t === null ? 'never' : `${t.toFixed(3)} s`);

function measuredCell(r: PhaseResult): string {
  if (r.verdict === 'not run') return '(not run)';
  if (r.verdict === 'error' || !r.measured) return '(error)';
  if (r.blip) return r.measured.closeAt === null ? `survived (open at ${r.measured.watchedS.toFixed(1)} s)` : `died at ${fmtS(r.measured.closeAt)}`;
  return r.measured.closeAt === null ? `open at ${r.measured.watchedS.toFixed(1)} s` : fmtS(r.measured.closeAt);
}

/** The model's column: when it notices — or, with a blip, whether it survives and with how much to spare. */
function modelCell(r: PhaseResult): string {
  if (!r.blip) return fmtS(r.predicted.closeAt);
  const margin = Number.isFinite(r.blip.marginS) ? `, ${Math.abs(r.blip.marginS).toFixed(1)} s ${r.blip.marginS >= 0 ? 'to spare' : 'short'}` : '';
  if (r.blip.predicted === 'survives') return `survives${margin}`;
  if (r.blip.predicted === 'dies') return `dies at ${fmtS(r.predicted.closeAt)}`;
  return 'too close to call';
}

function verdictCell(r: PhaseResult): string {
  return { agrees: 'agrees with the model', differs: 'DIFFERS from the model', 'not run': 'model only', error: 'ERROR', uncertain: 'model cannot call it', 'cannot judge': 'CANNOT JUDGE (a late action)' }[r.verdict];
}

/** The plain-text table, columns sized to their content. */
export function renderTable(results: PhaseResult[]): string {
  const gated = results.some((r) => r.budgetS !== undefined);
  const head = ['phase', 't = 0', 'model', 'kernel', 'errno', 'verdict', ...(gated ? ['budget'] : [])];
  const rows = results.map((r) => [
    r.phase,
    r.origin,
    modelCell(r),
    measuredCell(r),
    (r.measured ? r.measured.errno : r.predicted.errno) ?? '—',
    verdictCell(r),
    ...(gated ? [r.budgetS === undefined ? '—' : `${humanDuration(r.budgetS)}: ${r.overBudget ? 'OVER' : 'ok'}`] : []),
  ]);
  const width = head.map((_, i) => Math.max(...[head, ...rows].map((row) => row[i]!.length)));
  const line = (row: string[]) => row.map((c, i) => c.padEnd(width[i]!)).join('  ').trimEnd();
  return [line(head), width.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function listPresets(): string {
  const w = Math.max(...PRESETS.map((p) => p.name.length));
  return (
    PRESETS.map((p) => `${p.name.padEnd(w)}  ${p.title}: ${describeConfig(p.config)}\n${' '.repeat(w)}  source: ${p.source}\n${' '.repeat(w)}  ${verificationLine(p.name)}`).join('\n') +
    '\n\ncombine with overrides, e.g. deadpeer check --preset go-1.23 --user-timeout 30000\n'
  );
}

const optionsLine = (o: Record<string, number>) =>
  Object.entries(o)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ') || '(none: a plain socket)';

export async function runCheck(argv: string[]): Promise<number> {
  const features = runningKernel();
  const parsed = parseCheckArgs(argv, { features });
  if (parsed.kind === 'help') return out(CHECK_USAGE, 0);
  if (parsed.kind === 'list-presets') return out(listPresets(), 0);
  if (parsed.kind === 'error') return err(`deadpeer check: ${parsed.message}`, 2);
  const args = parsed.args;
  const problem = await preflightProblem();
  if (problem) return err(`deadpeer check: ${problem}`, 2);
  const lock = await acquireTimingLock('deadpeer check', (line) => process.stderr.write(`${line}\n`));
  try {
    const plan = planCheck(args, features);
    if (!args.json) process.stdout.write(headerLines(plan, features).join('\n') + '\n\n');
    const pace = progress(plan);
    const report = await runCheckPlan(plan, { phaseDone: pace.done, pathDone: pace.pathDone }).finally(pace.stop);
    process.stdout.write(args.json ? JSON.stringify(report) + '\n' : renderReport(report, plan));
    return report.exitCode;
  } finally {
    await lock.release();
  }
}

/** The human report after the table: why phases differ, the advice, the artifacts and the gate. */
function renderReport(report: CheckReport, plan: CheckPlan): string {
  const { phases: results, advice, gate } = report;
  const lines = [renderTable(results), ''];
  for (const r of results) if (r.drain) lines.push(drainLine(r), '');
  for (const r of results.filter((x) => x.verdict !== 'agrees' && x.why.length)) {
    lines.push(`${r.phase}: ${r.why.join('; ')}${r.artifacts ? ` (timeline: deadpeer show ${r.artifacts})` : ''}`);
  }
  if (report.middlebox) lines.push(...middleboxLines(report.middlebox), '');
  lines.push(`advice (from the model, at this host's sysctls: tcp_syn_retries ${plan.host.tcp_syn_retries}, tcp_retries2 ${plan.host.tcp_retries2}):`);
  lines.push(...(advice.length ? advice.map((a) => `  - ${a}`) : ['  - none: every phase is detected, and no setting works against another']));
  lines.push(`artifacts (pcap + observation per phase): ${report.artifacts}`);
  if (Object.keys(gate.budgets).length) {
    const over = results.filter((r) => r.overBudget);
    lines.push(
      over.length
        ? `gate: FAILED — over budget: ${over.map((r) => `${r.phase} (${fmtS(r.measured ? r.measured.closeAt : r.predicted.closeAt)} > ${humanDuration(r.budgetS!)})`).join(', ')}`
        : 'gate: passed — every phase within its budget',
    );
  }
  if (report.middlebox?.budgetS !== undefined) {
    const m = report.middlebox;
    // the kernel's notice time when the path ran, else the model's
    const noticed = m.measured ? m.measured.noticeAfterS : m.firstWrite.noticeAfterS;
    lines.push(
      m.overBudget
        ? `gate: FAILED — behind ${m.middlebox.name} the first write after the expiry is noticed ${noticed === null ? 'never' : `after ${humanDuration(noticed)}`} > ${humanDuration(m.budgetS!)}${m.measured ? ' (measured)' : ''}`
        : `gate: passed — behind ${m.middlebox.name} within ${humanDuration(m.budgetS!)}${m.measured ? ' (measured)' : ''}`,
    );
  }
  if (report.blipS !== undefined) {
    const died = results.filter((r) => r.blip?.survived === false);
    lines.push(died.length ? `gate: FAILED — did not survive the ${humanDuration(report.blipS)} blip: ${died.map((r) => r.phase).join(', ')}` : `gate: passed — every phase run survived the ${humanDuration(report.blipS)} blip`);
  }
  if (gate.errors.length) lines.push(`could not measure: ${gate.errors.join(', ')}`);
  return lines.join('\n') + '\n';
}

/** The server's zero-window phase: the drain monitor's verdict beside the kernel's (which kept the alive client). */
function drainLine(r: PhaseResult): string {
  const d = r.drain!;
  const kernel = r.measured?.closeAt === null || r.measured?.closeAt === undefined ? `the kernel still held the connection at ${r.measured?.watchedS.toFixed(1) ?? '?'} s (the client answers its window probes)` : `the kernel closed it at ${fmtS(r.measured.closeAt)}`;
  const what = {
    alive: `alive — bytes kept leaving the send queue (${d.drainRate} B/s): a slow reader, worth keeping`,
    dead: `dead — no byte left the send queue for ${d.stalledForS.toFixed(1)} s (over its ${d.windowS} s window) while bytes waited: the client stopped reading or is gone, and the monitor cannot tell which — nor can the persist timer`,
    idle: 'idle — nothing waited to be sent: nothing to judge',
    undecided: `undecided — less than its ${d.windowS} s window observed`,
  }[d.verdict];
  return `${r.phase}: the server's verdict by the send-buffer drain monitor (DrainMonitor, ${d.samples} TCP_INFO samples): ${what}; ${kernel}`;
}

/** The middlebox's answer under the table: the model's lines, and the kernel's run of the path beside them — or why there is none. */
function middleboxLines(m: MiddleboxResult): string[] {
  const { middlebox: mb } = m;
  const basis = m.measured ? 'measured on this kernel (a router namespace running conntrack), beside the model' : `predicted by the model: ${m.error ? `${m.notRun}: ${m.error}` : m.notRun}`;
  const lines = [
    `behind ${mb.name} (forgets a connection idle for ${humanDuration(mb.idleTimeoutS)}, then ${mb.mode === 'reset' ? 'answers with a RST' : 'drops silently'}) — ${basis}:`,
    `  the idle connection keeps its mapping: ${m.keepsMapping.kept} (${m.keepsMapping.why})`,
    `  the first write after the expiry (at ${m.firstWrite.atS} s): ${m.firstWrite.line}`,
  ];
  if (m.measured) lines.push(`  the kernel: ${kernelLine(m.measured)}`);
  lines.push(`  the server: ${m.server}`);
  return lines;
}

/** What the path did on the kernel, its verdict against the model, and where its evidence is. */
function kernelLine(k: NonNullable<MiddleboxResult['measured']>): string {
  const entry = k.entryGoneAtS === null ? "the router's entry stayed" : `the router's entry was gone at ${k.entryGoneAtS.toFixed(3)} s`;
  const write = `the write at ${k.writeAtS.toFixed(3)} s`;
  const outcome =
    k.noticeAfterS !== null
      ? `${write} failed ${k.noticeAfterS.toFixed(3)} s after it with ${k.errno}`
      : k.reachedServer
        ? `${write} reached the server; the connection stayed open (watched to ${k.watchedS.toFixed(1)} s)`
        : `${write} did not get through and the socket had not noticed by ${k.watchedS.toFixed(1)} s`;
  const verdict = { agrees: 'agrees with the model', differs: 'DIFFERS from the model', 'cannot judge': 'CANNOT JUDGE', uncertain: 'model cannot call it' }[k.verdict];
  return `${entry}; ${outcome} — ${verdict}${k.why.length ? ` (${k.why.join('; ')})` : ''} (timeline: deadpeer show ${k.artifacts})`;
}

function headerLines(plan: CheckPlan, features: KernelFeatures): string[] {
  const { args, options, host } = plan;
  const preset = args.preset ? findPreset(args.preset) : undefined;
  const server = args.side === 'server';
  const ns = server ? "the server's" : "the client's";
  const profile =
    args.profile === 'fast'
      ? `profile fast: ${ns} namespace runs with ${Object.entries(FAST_SYSCTLS)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ')} (this host: ${host.tcp_syn_retries}, ${host.tcp_retries2}) so every phase takes seconds; ` +
        'the model predicts for those values (--profile faithful: the kernel\'s own, up to ≈15 min)'
      : `profile faithful: the kernel's default sysctls in ${ns} namespace`;
  return [
    `deadpeer check${server ? ' --side server' : ''}: ${describeConfig(args.config)} (${args.sources.join(' + ')}${preset ? `: ${preset.title}` : ''})`,
    `  socket options: ${optionsLine(options)}${server ? ' — set on the listener, judged on the server\'s accepted socket (it inherits them); the client vanishes' : ''}`,
    `  kernel ${features.release} (HZ ${features.hz}), IPv${args.family}`,
    `  ${profile}`,
    `  phases run in parallel; times in seconds from each phase's t = 0; "never" = no timer would ever notice`,
    ...(args.middlebox && plan.middleboxRun
      ? [
          plan.middleboxRun.run
            ? `  middlebox: ${args.middlebox.name} — run beside the phases through a router namespace running conntrack (≈${humanDuration(plan.middleboxRun.expectedS)} by the model), and predicted`
            : `  middlebox: ${args.middlebox.name} — predicted by the model at the profile's sysctls, not run: ${plan.middleboxRun.why}`,
        ]
      : []),
    ...(args.blipS !== undefined
      ? [`  fault: a ${humanDuration(args.blipS)} blip — the network goes dark when the phase starts and heals ${humanDuration(args.blipS)} later; every phase must survive it`]
      : []),
  ];
}

/** Progress on stderr for runs the model says are slow: every 30 s, which phases are still running. */
function progress({ toRun: phases, expected, middleboxRun }: CheckPlan): { done: (p: UserPhase) => void; pathDone: () => void; stop: () => void } {
  const finished = new Set<UserPhase>();
  let pathRunning = !!middleboxRun?.run;
  const slow = Math.max(0, ...phases.map((p) => expected[p]), pathRunning ? middleboxRun!.expectedS : 0);
  if (slow <= 30) return { done: () => undefined, pathDone: () => undefined, stop: () => undefined };
  const start = Date.now();
  process.stderr.write(`deadpeer check: the slowest phase takes ≈${humanDuration(slow)} by the model; progress every 30 s\n`);
  const timer = setInterval(() => {
    const running = [
      ...phases.filter((p) => !finished.has(p)).map((p) => `${p} (model: ≈${humanDuration(expected[p])})`),
      ...(pathRunning ? [`the middlebox path (model: ≈${humanDuration(middleboxRun!.expectedS)})`] : []),
    ];
    process.stderr.write(`deadpeer check: ${humanDuration((Date.now() - start) / 1000)} elapsed; still running: ${running.join(', ')}\n`);
  }, 30_000);
  return { done: (p) => finished.add(p), pathDone: () => (pathRunning = false), stop: () => clearInterval(timer) };
}

function out(text: string, code: number): number {
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
  return code;
}

function err(text: string, code: number): number {
  process.stderr.write(oneLine(text) + '\n');
  return code;
}
