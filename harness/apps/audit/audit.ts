import { existsSync } from 'node:fs';
import { EnvironmentError, InputError } from '../../core/errors.js';
import { runningKernel } from '../../engine/kernel.js';
import { realUid } from '../exec/run.js';
import { type AuditArgs, type AuditOptions, auditArgsFromOptions } from './args.js';
import { type Judged, judgeSocket, settleDirections } from './connection.js';
import { AuditModel, type NamespaceInput, namespaceInput } from './model.js';
import { auditorFacts, type AuditorFacts, deniedLine, privilegeProblem } from './privileges.js';
import { runReader } from './reader.js';
import type { DoneLine, ReaderLine } from './reader-events.js';
import type { KernelFeatures } from '../../model/types.js';
import { AUDIT_VERDICTS, type AuditNamespace, type AuditReport, type AuditVerdict } from './report.js';
import { gateFailures, groupConnections } from './summary.js';

/**
 * `audit`: every TCP connection of the targets read once by the native reader, each judged by the
 * model at the settings its socket holds, its namespace's sysctls and its own RTO, then grouped into
 * what people act on. The CLI (cli/audit.ts) and the API (audit()) print or return the same report.
 */

/** The audit of a running service's connections (`deadpeer audit --json`). */
export async function audit(options: AuditOptions): Promise<AuditReport> {
  return runAudit(auditArgsFromOptions(options));
}

/**
 * Throws an EnvironmentError (one line naming the setting) when this auditor can read nothing, or
 * when a process it was asked for by pid could not be read at all.
 */
export async function runAudit(a: AuditArgs, facts: AuditorFacts = auditorFacts()): Promise<AuditReport> {
  const problem = privilegeProblem(facts);
  if (problem) throw new EnvironmentError(problem);
  const gone = a.pids.find((pid) => !existsSync(`/proc/${pid}`));
  if (gone !== undefined) throw new InputError(`no process ${gone}: name running processes (or --all)`);
  const started = process.hrtime.bigint();
  const audit = new Audit(a, runningKernel());
  const done = await runReader(a, (l) => audit.take(l));
  return audit.report(done, facts, Number(process.hrtime.bigint() - started) / 1e6);
}

/** The reader's lines as they come, judged one by one, and the report once the reader is done. */
export class Audit {
  private readonly model: AuditModel;
  private readonly namespaces = new Map<number, { entry: AuditNamespace; input?: NamespaceInput }>();
  private readonly comms = new Map<number, string>();
  private readonly judged: Judged[] = [];
  private readonly denied: AuditReport['denied'] = [];

  constructor(
    private readonly a: AuditArgs,
    private readonly features: KernelFeatures,
  ) {
    this.model = new AuditModel(features);
  }

  take(l: ReaderLine): void {
    if (l.ev === 'netns') {
      const unread = l.unread ?? (l.dumpError ? { what: 'sock_diag', errno: l.dumpError } : undefined);
      const input = l.sysctls && !l.unread ? namespaceInput(l, this.features) : undefined;
      const entry: AuditNamespace = {
        netns: l.netns,
        ...(l.sysctls && !l.unread ? { sysctls: l.sysctls as Record<string, number> } : {}),
        ...(input?.unread.length ? { unreadSysctls: input.unread } : {}),
        ...(unread ? { unread } : {}),
      };
      this.namespaces.set(l.netns, { entry, ...(input ? { input } : {}) });
    } else if (l.ev === 'proc') this.comms.set(l.pid, l.comm);
    else if (l.ev === 'sock') this.judged.push(judgeSocket(l, '', this.namespaces.get(l.netns)?.input, this.model, this.a.maxDetectS));
    else if (l.ev === 'denied') this.denied.push({ pid: l.pid, what: l.what, errno: l.errno });
  }

  /** Throws an EnvironmentError when a process named by pid could not be read: a refusal, not a line among others. */
  report(done: DoneLine, facts: AuditorFacts, elapsedMs: number, ownerOf: (pid: number) => number | undefined = realUid): AuditReport {
    const { a, judged } = this;
    const named = this.denied.find((d) => a.pids.includes(d.pid));
    if (named) throw new EnvironmentError(deniedLine(named, facts, ownerOf(named.pid)));
    for (const j of judged) j.c.program = this.comms.get(j.c.pid) ?? '?';
    settleDirections(judged);
    const verdicts = Object.fromEntries(AUDIT_VERDICTS.map((v) => [v, 0])) as Record<AuditVerdict, number>;
    for (const j of judged) verdicts[j.c.verdict]++;
    const groups = groupConnections(judged, a.maxDetectS);
    const failed = a.maxDetectS !== undefined ? gateFailures(groups) : [];
    return {
      kernel: { release: this.features.release, hz: this.features.hz },
      targets: { pids: a.pids, all: a.all, ...(a.netns !== undefined ? { netns: a.netns } : {}) },
      ...(a.maxDetectS !== undefined ? { maxDetectS: a.maxDetectS } : {}),
      namespaces: [...this.namespaces.values()].map((n) => n.entry),
      connections: judged.map((j) => j.c),
      groups,
      verdicts,
      denied: this.denied,
      reader: { procs: done.procs, sockets: done.sockets, listeners: done.listeners, unreadable: done.unreadable, elapsedMs: done.elapsedMs },
      modelComputations: this.model.computed,
      ...(a.maxDetectS !== undefined ? { gate: { maxDetectS: a.maxDetectS, failed } } : {}),
      elapsedMs,
      exitCode: failed.length ? 1 : 0,
    };
  }
}
