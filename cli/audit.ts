/**
 * `deadpeer audit`: the connections of running programs, judged — when a peer that vanished would
 * be noticed in each phase, at the options each socket really holds — summarised per program and
 * endpoint, as JSON, or as metrics for Prometheus.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { humanDuration } from '../harness/apps/check/advice.js';
import { type AuditArgs, auditArgsFrom } from '../harness/apps/audit/args.js';
import { runAudit } from '../harness/apps/audit/audit.js';
import { AS_ROOT } from '../harness/apps/audit/privileges.js';
import { renderOpenMetrics } from '../harness/apps/audit/openmetrics.js';
import type { AuditReport } from '../harness/apps/audit/report.js';
import { renderGroups, verdictCounts } from '../harness/apps/audit/summary.js';
import { describeParseError, parseOnce } from '../harness/apps/parse-args.js';
import { EnvironmentError, InputError } from '../harness/core/errors.js';
import { oneLine } from '../harness/core/one-line.js';
import { ROOT } from '../harness/core/paths.js';
import { PHASE_ORIGIN } from '../harness/recipes/phases.js';

export const AUDIT_USAGE = `usage: deadpeer audit [PID…] [--all] [--netns PATH] [--max-detect D] [--json | --openmetrics]

Reads every TCP connection of the running processes named (or of every process, --all): the
4-tuple, state and pending timer the kernel shows (sock_diag), the options the socket really holds
(pidfd_getfd + getsockopt: SO_KEEPALIVE, TCP_KEEPIDLE/INTVL/CNT, TCP_USER_TIMEOUT, TCP_SYNCNT,
TCP_RTO_MAX_MS), its TCP_INFO (its own RTO, what is in flight) and the sysctls of the network
namespace it lives in. The model then says, per phase — idle, busy (data unacknowledged),
zero-window; connect for a socket still in SYN-SENT — when a peer that vanished would be noticed,
and which phase each connection is in now. The summary groups connections by program and remote
endpoint (or, for connections a program accepted, its port), with the settings to change.

  PID…             the processes to audit (each once)
  --all            every process (a normal user: its own; the others are counted, not read)
  --netns PATH     only sockets living in this network namespace (/run/netns/NAME, /proc/PID/ns/net);
                   alone: every process's sockets in it
  --max-detect D   CI gate: exit 1 when a connection would notice a vanished peer later than D (the
                   timer wheel's late end) or never, in any phase — or could not be judged
  --json           one JSON object on stdout (docs/API.md, "audit")
  --openmetrics    metrics for node_exporter's textfile collector or a scrape (docs/AUDIT.md)

Privileges: root, or CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (+ CAP_SYS_ADMIN for sockets in other
network namespaces). A normal user audits its own processes where kernel.yama.ptrace_scope allows (0,
or no Yama); a socket whose options cannot be read is reported with what sock_diag shows, never guessed.
Each option at most once (a second one is refused, not a correction of the first).
Exit: 0 audited (within --max-detect), 1 --max-detect failed, 2 bad input or not allowed to read.
`;

const OPTIONS = {
  all: { type: 'boolean' },
  netns: { type: 'string' },
  'max-detect': { type: 'string' },
  json: { type: 'boolean' },
  openmetrics: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Every flag `deadpeer audit` takes (the option-walk test tries each one). */
export const AUDIT_FLAGS = Object.keys(OPTIONS).map((o) => `--${o}`);

export type ParsedAuditArgs = { kind: 'help' } | { kind: 'args'; args: AuditArgs } | { kind: 'error'; message: string };

const flag = (field: string) => `--${field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** Parse `deadpeer audit` argv (without "audit"). Never throws. */
export function parseAuditArgs(argv: string[]): ParsedAuditArgs {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseOnce({ args: argv, allowPositionals: true, strict: true, options: OPTIONS }));
  } catch (e) {
    return { kind: 'error', message: describeParseError(e, AUDIT_FLAGS.join(' ')) };
  }
  if (values.help) return { kind: 'help' };
  if (values.json && values.openmetrics) return { kind: 'error', message: '--json and --openmetrics: choose one output' };
  try {
    const output = values.json ? 'json' : values.openmetrics ? 'openmetrics' : 'text';
    return { kind: 'args', args: auditArgsFrom({ all: values.all, netns: values.netns, maxDetect: values['max-detect'], output }, positionals, flag, 'PID') };
  } catch (e) {
    if (e instanceof InputError) return { kind: 'error', message: e.message };
    throw e;
  }
}

/** The human report. */
export function renderAudit(r: AuditReport): string {
  const procs = new Set(r.connections.map((c) => c.pid)).size;
  const n = r.connections.length;
  const lines = [
    `deadpeer audit: ${n} connection${n === 1 ? '' : 's'} of ${procs} process${procs === 1 ? '' : 'es'}${r.reader.listeners ? ` (and ${r.reader.listeners} listening socket${r.reader.listeners === 1 ? '' : 's'}, not judged)` : ''}, kernel ${r.kernel.release} (HZ ${r.kernel.hz})`,
    `  when a vanished peer would be noticed, from the phase's t = 0 — ${(['idle', 'busy', 'zero-window', 'connect'] as const).map((p) => `${p}: ${PHASE_ORIGIN[p]}`).join('; ')}`,
    '',
  ];
  if (!n) lines.push('no TCP connection to judge');
  lines.push(...renderGroups(r.groups));
  // a namespace's unread sysctls matter where a connection lives in it
  const lived = new Set(r.connections.map((c) => c.netns));
  for (const ns of r.namespaces.filter((n) => lived.has(n.netns) || n.unread)) {
    if (ns.unread) lines.push(`! network namespace ${ns.netns}: not read (${ns.unread.what}: ${ns.unread.errno})`);
    else if (ns.unreadSysctls) lines.push(`! network namespace ${ns.netns}: ${ns.unreadSysctls.join(', ')} could not be read: the answers that rest on them span every value they can take, or say unknown`);
  }
  if (r.denied.length) {
    const setns = r.denied.filter((d) => d.what === 'setns').length;
    const other = r.denied.length - setns;
    if (other) lines.push(`${other} process${other === 1 ? '' : 'es'} not read: their descriptors cannot be listed by this user (to audit them too: ${AS_ROOT})`);
    if (setns) lines.push(`${setns} process${setns === 1 ? '' : 'es'} not read: in a network namespace this user cannot enter (CAP_SYS_ADMIN)`);
  }
  lines.push('', `verdicts: ${verdictCounts(r.verdicts) || 'none'} (read in ${(r.reader.elapsedMs / 1000).toFixed(3)} s, judged in ${(r.elapsedMs / 1000).toFixed(3)} s; the model computed ${r.modelComputations} phase${r.modelComputations === 1 ? '' : 's'})`);
  if (r.gate) {
    const gate = `gate --max-detect ${humanDuration(r.gate.maxDetectS)}`;
    if (r.gate.failed.length) lines.push(`${gate}: FAILED —`, ...r.gate.failed.map((f) => `  - ${f}`));
    else lines.push(`${gate}: passed — every connection notices a vanished peer within it, in every phase`);
  }
  return lines.join('\n') + '\n';
}

const version = () => (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

export async function runAuditCommand(argv: string[]): Promise<number> {
  const parsed = parseAuditArgs(argv);
  if (parsed.kind === 'help') {
    process.stdout.write(AUDIT_USAGE);
    return 0;
  }
  const refuse = (message: string) => {
    process.stderr.write(`${oneLine(`deadpeer audit: ${message}`)}\n`);
    return 2;
  };
  if (parsed.kind === 'error') return refuse(parsed.message);
  const a = parsed.args;
  let report: AuditReport;
  try {
    report = await runAudit(a);
  } catch (e) {
    // not allowed to read, or a target the reader refused: one line, exit 2
    if (e instanceof InputError || e instanceof EnvironmentError) return refuse(e.message);
    throw e;
  }
  if (a.output === 'json') process.stdout.write(JSON.stringify(report) + '\n');
  else if (a.output === 'openmetrics') process.stdout.write(renderOpenMetrics(report, { version: version(), nowS: Date.now() / 1000, durationS: report.elapsedMs / 1000 }));
  else process.stdout.write(renderAudit(report));
  return report.exitCode;
}
