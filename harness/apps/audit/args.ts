import { existsSync } from 'node:fs';
import { InputError } from '../../core/errors.js';
import { type Duration, parseDuration } from '../check/args.js';
import { givenTwice } from '../parse-args.js';

/**
 * `audit` input, from the command line (cli/audit.ts) or from audit() options: one validation, so
 * the same value is refused with the same words either way.
 */
export interface AuditArgs {
  /** the processes to audit (distinct); empty with `all` or with only `netns` */
  pids: number[];
  /** every process */
  all: boolean;
  /** only sockets living in this network namespace (/run/netns/NAME, /proc/PID/ns/net); alone it means every process, restricted to it */
  netns?: string;
  /** the gate: every connection must notice a vanished peer within this (s), in every phase */
  maxDetectS?: number;
  output: 'text' | 'json' | 'openmetrics';
}

/** The options of `audit()`: the flags of `deadpeer audit`, camel-cased. */
export interface AuditOptions {
  /** the processes to audit */
  pids?: number[];
  /** every process (root, or your own as a normal user) */
  all?: boolean;
  /** only sockets living in this network namespace: a namespace file, /run/netns/NAME or /proc/PID/ns/net */
  netns?: string;
  /** the gate: the report's exitCode is 1 when a connection would notice a vanished peer later than this, or never, in some phase */
  maxDetect?: Duration;
}

/** The largest pid Linux hands out (PID_MAX_LIMIT). */
const PID_MAX = 4_194_304;

/** A pid as given: a whole number 1..PID_MAX_LIMIT, nothing else (it reaches the reader as an argument, never a shell). */
function pidOf(where: string, v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,7}$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > PID_MAX) throw new InputError(`${where}: ${JSON.stringify(v)} is not a process id: expected a whole number from 1 to ${PID_MAX}`);
  return n;
}

/** Validate audit input; `name` says how a field is called where it came from ("--all", "audit(): all"). */
export function auditArgsFrom(v: { all?: unknown; netns?: unknown; maxDetect?: unknown; output?: AuditArgs['output'] }, pids: readonly unknown[], name: (field: string) => string, pidsName: string): AuditArgs {
  const list = pids.map((p) => pidOf(pidsName, p));
  const twice = list.find((p, i) => list.indexOf(p) !== i);
  if (twice !== undefined) throw new InputError(`${pidsName}: ${givenTwice(`pid ${twice}`, list.filter((p) => p === twice).length)}`);
  if (v.all !== undefined && typeof v.all !== 'boolean') throw new InputError(`${name('all')}: ${JSON.stringify(v.all)} is not allowed: expected true or false`);
  const all = v.all === true;
  if (all && list.length) throw new InputError(`${name('all')} audits every process: give ${name('all')} or the pids, not both`);
  let netns: string | undefined;
  if (v.netns !== undefined) {
    if (typeof v.netns !== 'string' || !v.netns || /[\u0000-\u001f]/.test(v.netns)) throw new InputError(`${name('netns')}: ${JSON.stringify(v.netns)} is not allowed: expected a namespace file, /run/netns/NAME or /proc/PID/ns/net`);
    if (!existsSync(v.netns)) throw new InputError(`${name('netns')}: no such file ${JSON.stringify(v.netns)}: expected a namespace file, /run/netns/NAME or /proc/PID/ns/net`);
    netns = v.netns;
  }
  if (!all && !list.length && netns === undefined) throw new InputError(`name what to audit: process ids, ${name('all')} (every process) or ${name('netns')} PATH (every socket in that namespace)`);
  let maxDetectS: number | undefined;
  if (v.maxDetect !== undefined) {
    maxDetectS = parseDuration(name('maxDetect'), v.maxDetect);
    if (maxDetectS <= 0) throw new InputError(`${name('maxDetect')}: ${JSON.stringify(v.maxDetect)} is not allowed: expected a duration above 0, e.g. 30s`);
  }
  return { pids: list, all, ...(netns !== undefined ? { netns } : {}), ...(maxDetectS !== undefined ? { maxDetectS } : {}), output: v.output ?? 'text' };
}

const OPTION_NAMES: ReadonlyArray<keyof AuditOptions> = ['pids', 'all', 'netns', 'maxDetect'];

/** audit() options → AuditArgs. Throws an InputError (one line). */
export function auditArgsFromOptions(options: AuditOptions): AuditArgs {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new InputError(`audit(): expected an options object (${OPTION_NAMES.join(', ')}), got ${JSON.stringify(options)}`);
  const unknown = Object.keys(options).find((k) => !(OPTION_NAMES as readonly string[]).includes(k));
  if (unknown) throw new InputError(`audit(): unknown option "${unknown}": allowed options are ${OPTION_NAMES.join(', ')}`);
  if (options.pids !== undefined && !Array.isArray(options.pids)) throw new InputError(`audit(): pids: ${JSON.stringify(options.pids)} is not allowed: expected an array of process ids`);
  return auditArgsFrom({ all: options.all, netns: options.netns, maxDetect: options.maxDetect, output: 'json' }, options.pids ?? [], (f) => `audit(): ${f}`, 'audit(): pids');
}
