import { InputError } from '../core/errors.js';
import { SOCK_OPTS } from '../core/protocol.js';
import { FOLDER_NAME_RULE, artifactFolder } from './recorders.js';
import { sysctlRange } from '../model/sysctl-ranges.js';
import { TCP_SYSCTL_NAMES, type TcpSysctls } from '../model/types.js';
import { faultProblems } from './faults.js';
import type { ScenarioSpec } from './run.js';
import { MAX_IDLE_TIMEOUT_S, type Middlebox, middleboxFamilyProblem } from '../model/middlebox.js';

/** Every field a spec may hold: anything else is a typo (`sysctl:`) that would be silently ignored. */
const SPEC_FIELDS = ['name', 'phase', 'family', 'client', 'server', 'subject', 'model', 'origin', 'steps', 'path', 'pathModel', 'premise'];
const ENDPOINT_FIELDS = ['sysctls', 'options'];

const PHASES = ['syn-sent', 'syn-recv', 'defer-accept', 'idle', 'busy', 'zero-window'];
const isInt = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31;

/**
 * What is wrong with a scenario spec, each problem naming the field, the value and what is allowed.
 * Checked before anything is created, so a bad spec leaves nothing behind. (TypeScript catches most
 * of this at compile time; specs also come from JavaScript and from configuration.)
 */
export function specProblems(spec: ScenarioSpec): string[] {
  const out: string[] = [];
  const show = (v: unknown) => JSON.stringify(v);
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) return [`expected a spec object (${SPEC_FIELDS.join(', ')}), got ${show(spec)}`];
  const unknown = (where: string, o: object, allowed: string[]) => {
    for (const k of Object.keys(o)) if (!allowed.includes(k)) out.push(`${where}${k}: unknown field: allowed fields are ${allowed.join(', ')}`);
  };
  unknown('', spec, SPEC_FIELDS);
  if (typeof spec.name !== 'string' || !spec.name.trim()) out.push(`name: ${show(spec.name)} is not allowed: a non-empty string`);
  else if (!artifactFolder(spec.name)) out.push(`name: ${show(spec.name)} is not allowed: ${FOLDER_NAME_RULE}`);
  if (spec.family !== 4 && spec.family !== 6) out.push(`family: ${show(spec.family)} is not allowed: 4 or 6`);
  if (!PHASES.includes(spec.phase)) out.push(`phase: ${show(spec.phase)} is not allowed: one of ${PHASES.join(', ')}`);
  if (spec.subject !== undefined && spec.subject !== 'client' && spec.subject !== 'server')
    out.push(`subject: ${show(spec.subject)} is not allowed: "client" or "server"`);
  if (typeof spec.model !== 'function') out.push('model: must be a function (settings read back → Prediction)');
  if (spec.origin !== undefined && typeof spec.origin !== 'function') out.push('origin: must be a function (the observation → t = 0 on the run\'s clock)');
  if (spec.path !== undefined) out.push(...pathProblems(spec.path, spec.family));
  if (spec.pathModel !== undefined && typeof spec.pathModel !== 'function') out.push('pathModel: must be a function (settings read back → PathPrediction)');
  if (spec.premise !== undefined && typeof spec.premise !== 'function') out.push('premise: must be a function (the observation → why its set-up did not hold, or undefined)');
  if (!Array.isArray(spec.steps) || !spec.steps.length) out.push('steps: must be a non-empty list of steps');
  else
    spec.steps.forEach((s, i) => {
      if (!s || typeof s.run !== 'function' || typeof s.label !== 'string') out.push(`steps[${i}]: not a step (needs a label and a run function)`);
      // its fault's name goes into nft text: refused here, before any namespace exists
      else if (s.fault !== undefined) out.push(...faultProblems(s.fault).map((p) => `steps[${i}].fault.${p}`));
    });
  for (const side of ['client', 'server'] as const) {
    const e = spec[side];
    if (e === undefined) continue;
    if (e === null || typeof e !== 'object' || Array.isArray(e)) {
      out.push(`${side}: ${show(e)} is not allowed: { sysctls?, options? }`);
      continue;
    }
    unknown(`${side}.`, e, ENDPOINT_FIELDS);
    for (const f of ENDPOINT_FIELDS) {
      const v = (e as Record<string, unknown>)[f];
      if (v !== undefined && (v === null || typeof v !== 'object' || Array.isArray(v))) out.push(`${side}.${f}: ${show(v)} is not allowed: a mapping of names to numbers`);
    }
    for (const [k, v] of Object.entries(e.options ?? {})) {
      if (!(SOCK_OPTS as readonly string[]).includes(k)) out.push(`${side}.options.${k}: unknown socket option: one of ${SOCK_OPTS.join(', ')}`);
      else if (!isInt(v)) out.push(`${side}.options.${k}: ${show(v)} is not allowed: a 32-bit integer`);
    }
    for (const [k, v] of Object.entries(e.sysctls ?? {})) {
      if (!/^tcp_[a-z0-9_]+$/.test(k)) out.push(`${side}.sysctls.${k}: not allowed: a net.ipv4.tcp_* sysctl name (short form, e.g. tcp_syn_retries)`);
      else if (!isInt(v) || (v as number) < 0) out.push(`${side}.sysctls.${k}: ${show(v)} is not allowed: a whole number ≥ 0`);
      else if ((TCP_SYSCTL_NAMES as readonly string[]).includes(k)) {
        // the kernel's own range (keepalive times at HZ 1000, the narrowest): outside it the write fails
        const r = sysctlRange(k as keyof TcpSysctls, 1000);
        if ((v as number) < r.min || (v as number) > r.max) out.push(`${side}.sysctls.${k}: ${show(v)} is not allowed: the kernel takes ${r.min} to ${r.max}`);
      }
    }
  }
  return out;
}

/** A router on the path: its middlebox must be one the router can be (harness/engine/router.ts). */
function pathProblems(path: unknown, family: unknown): string[] {
  const show = (v: unknown) => JSON.stringify(v)?.slice(0, 80);
  const m = (path as { middlebox?: Partial<Middlebox> } | null)?.middlebox;
  if (!m || typeof m !== 'object') return [`path: ${show(path)} is not allowed: { middlebox: { name, idleTimeoutS, mode, kind } }`];
  const out: string[] = [];
  if (!Number.isInteger(m.idleTimeoutS) || m.idleTimeoutS! < 1 || m.idleTimeoutS! > MAX_IDLE_TIMEOUT_S)
    out.push(`path.middlebox.idleTimeoutS: ${show(m.idleTimeoutS)} is not allowed: whole seconds, 1 to ${MAX_IDLE_TIMEOUT_S} (conntrack counts seconds)`);
  if (m.mode !== 'drop' && m.mode !== 'reset') out.push(`path.middlebox.mode: ${show(m.mode)} is not allowed: "drop" or "reset"`);
  if (m.kind !== 'nat' && m.kind !== 'firewall') out.push(`path.middlebox.kind: ${show(m.kind)} is not allowed: "nat" or "firewall"`);
  else if (family === 4 || family === 6) {
    const why = middleboxFamilyProblem(m as Middlebox, family);
    if (why) out.push(`path.middlebox: ${why}`);
  }
  return out;
}

/** Refuse a bad spec, before anything exists, with one InputError line naming every problem. */
export function assertSpec(spec: ScenarioSpec): void {
  const problems = specProblems(spec);
  if (problems.length) throw new InputError(`scenario ${JSON.stringify((spec as Partial<ScenarioSpec> | null)?.name)}: ${problems.join('; ')}`);
}
